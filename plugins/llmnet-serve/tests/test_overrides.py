"""`llmnet serve --set PATH=VALUE`: the served pipeline is the composition with the changes, in every
worker process too, and a bad change stops the server before it listens, as a bad file would."""

from __future__ import annotations

import socket
from typing import Any

import httpx
from click.testing import CliRunner, Result

from llmnet_core.cli import cli


def one_node(url: str) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": url, "model": "file-model"}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


async def test_workers_serve_the_overridden_composition(write_composition, fake_server, start_serve):
    in_file, overridden = fake_server("from the file's model"), fake_server("from the overridden model")
    path = write_composition(one_node(in_file.url))
    server = start_serve(
        path,
        "--workers",
        "2",
        "--set",
        f"models.m.url={overridden.url}",
        "-o",
        "models.m.parameters.temperature=0.2",
        "--set",
        "name=tuned-bot",
    )
    async with httpx.AsyncClient(timeout=20) as client:
        for _ in range(3):
            reply = await client.post(
                f"{server.url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
            )
            assert reply.json()["choices"][0]["message"]["content"] == "from the overridden model"
        models = (await client.get(f"{server.url}/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["tuned-bot"]
    assert not in_file.chat_requests
    sent = [r.json for r in overridden.chat_requests]
    assert len(sent) == 3 and all(r["temperature"] == 0.2 and r["model"] == "file-model" for r in sent)
    assert server.stop() == 0


def test_a_bad_override_fails_before_listening(write_composition, fake_server):
    """Checked before the port is taken (a port in use here, so a check that let it through would stop
    with another error rather than serve)."""
    path = write_composition(one_node(fake_server().url))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        unknown = serve(path, port, "architecture.chatt.layer=1")
        invalid = serve(path, port, "models.m.type=cloud")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: --set architecture.chatt.layer=1")
    assert 'did you mean "chat"?' in unknown.stderr and "Traceback" not in unknown.stderr
    assert invalid.exit_code == 2
    assert "models.m.type" in invalid.stderr and "cannot listen" not in invalid.stderr


def serve(path: Any, port: str, override: str) -> Result:
    return CliRunner().invoke(cli, ["serve", str(path), "--port", port, "--set", override], obj={})
