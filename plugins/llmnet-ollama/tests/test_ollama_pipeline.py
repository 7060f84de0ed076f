"""End to end: compositions with `"runner": "ollama"` models, run as a library and through `llmnet run`."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_ollama.backend import JSON_OVERHEAD
from llmnet_testing import FakeOllamaServer

from llmnet_core import BackendError, Pipeline
from llmnet_core.cli import cli

LLMNET = str(Path(sys.executable).parent / "llmnet")
ROUTER_MODEL = "qwen2.5:0.5b"


def last_user(request: dict[str, Any]) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def reply(request: dict[str, Any]) -> str:
    """The router model names a handler; the handler models answer and say who they are."""
    if request["model"] == ROUTER_MODEL:
        return "billing" if "invoice" in last_user(request).lower() else "I would pick tech."
    return f"{request['model']} answers: {last_user(request)}"


def composition(url: str, **handler: Any) -> dict[str, Any]:
    return {
        "models": {
            "router": {
                "runner": "ollama", "endpoint": url + "/api", "model": ROUTER_MODEL, "keep-alive": "1h"
            },
            "handler": {
                "runner": "ollama",
                "url": url + "/v1/",
                "model": "llama3.2",
                "parameters": {"temperature": 0.3, "max_tokens": 200, "n_ctx": 4096},
                **handler,
            },
        },
        "architecture": [
            {"name": "router", "layer": 0, "model": "router", "output-to": [1]},
            {"name": "billing", "layer": 1, "model": "handler", "use-case": "invoices and refunds",
             "output-to": ["output"]},
            {"name": "tech", "layer": 1, "model": "handler", "use-case": "crashes and bugs",
             "extra-options": {"model_override": "qwen2.5-coder"}, "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }  # fmt: skip


@pytest.fixture
def server() -> Any:
    with FakeOllamaServer(reply, models=[ROUTER_MODEL, "llama3.2", "qwen2.5-coder"]) as srv:
        yield srv


async def test_router_and_handler_pipeline(host, server) -> None:
    tokens: list[str] = []
    async with Pipeline.from_dict(composition(server.url)) as pipeline:
        result = await pipeline.run("My invoice is wrong", on_token=tokens.append)
        other = await pipeline.run("The app crashes on start")
    assert result.output == "llama3.2 answers: My invoice is wrong"
    assert result.trace.path == ["router", "billing", "output"]
    assert len(tokens) > 1 and "".join(tokens) == result.output  # the final answer was streamed
    assert other.output == "qwen2.5-coder answers: The app crashes on start"
    assert other.trace.path == ["router", "tech", "output"]
    routed, answered = server.chat_requests[0].json, server.chat_requests[1].json
    assert routed["model"] == ROUTER_MODEL and routed["stream"] is False
    # the llm router's own parameter, an answer's worth of tokens, and the candidates as the only answers
    assert routed["options"] == {"temperature": 0, "num_predict": len("billing") + 8 + JSON_OVERHEAD}
    assert routed["format"]["properties"]["choice"]["enum"] == ["billing", "tech"]
    assert routed["keep_alive"] == "1h"
    assert "billing: invoices and refunds" in routed["messages"][0]["content"]
    assert answered["model"] == "llama3.2" and answered["stream"] is True
    assert answered["options"] == {"temperature": 0.3, "num_predict": 200, "num_ctx": 4096}
    assert "keep_alive" not in answered
    assert result.usage.completion_tokens == 1 + 6  # the router's "billing" + the handler's 6 words
    assert result.trace.hops[1].backend == "ollama"


async def test_missing_handler_model_fails_with_pull_hint(host, server) -> None:
    data = composition(server.url, model="mistral-small")
    async with Pipeline.from_dict(data) as pipeline:
        with pytest.raises(BackendError) as info:
            await pipeline.run("My invoice is wrong")
    assert info.value.message == (
        f'node "billing": model "mistral-small" is not available on the Ollama server at {server.url}'
    )
    assert "ollama pull mistral-small" in (info.value.hint or "")


def test_cli_run_prints_the_streamed_answer(host, server, write_composition) -> None:
    path = write_composition(composition(server.url))
    result = CliRunner().invoke(cli, ["run", str(path), "Where is my invoice?"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == "llama3.2 answers: Where is my invoice?\n"
    assert [r.json["stream"] for r in server.chat_requests] == [False, True]


def test_cli_run_server_down_is_one_clear_error(host, write_composition) -> None:
    with FakeOllamaServer() as gone:
        url = gone.url
    data = composition(url)
    data["models"]["router"]["retries"] = 0
    result = CliRunner().invoke(cli, ["run", str(write_composition(data)), "hi"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f'error: node "router": could not reach Ollama at {url} (connection refused after 1 attempt)' in (
        result.stderr
    )
    assert 'Start it with "ollama serve"' in result.stderr


def _read_until(stream: Any, wanted: bytes, deadline: float) -> bytes:
    """Read a subprocess pipe until `wanted` appears (bounded by `deadline`)."""
    data = b""
    while wanted not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data


def test_llmnet_run_streams_tokens_as_they_come(write_composition, tmp_path) -> None:
    with FakeOllamaServer(reply, models=[ROUTER_MODEL, "llama3.2"], pause_after=2) as srv:
        path = write_composition(composition(srv.url))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMNET_", "OLLAMA_"))}
        process = subprocess.Popen(
            [LLMNET, "run", str(path), "My invoice is wrong"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env=env,
        )
        try:
            early = _read_until(process.stdout, b"answers:", time.monotonic() + 30)
            assert early == b"llama3.2 answers:"  # printed while the server still holds the rest
            srv.resume()
            rest, errors = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert process.returncode == 0, errors.decode()
    assert early + rest == b"llama3.2 answers: My invoice is wrong\n"
