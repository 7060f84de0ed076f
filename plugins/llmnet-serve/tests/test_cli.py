"""Starting and stopping `llmnet serve`: one-line errors and exit statuses for what cannot work, several
worker processes, and a pipeline that cannot start reported by uvicorn as one line."""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from llmnet_serve.app import create_app
from llmnet_serve.settings import make_settings

from llmnet_core import Pipeline, SecretError, SecretProvider, hookimpl
from llmnet_core.cli import cli


def llmnet(*args: Any) -> subprocess.CompletedProcess[str]:
    """Run the `llmnet` console script of this interpreter's environment (bounded)."""
    script = Path(sys.executable).with_name("llmnet")
    return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True, timeout=30)


def one_node(url: str, **model: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": url, **model}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def assert_one_line_error(result: subprocess.CompletedProcess[str] | Result, *words: str, lines: int) -> None:
    """The command failed with one short error and nothing else on stderr: an `error: ` line, then
    `lines` - 1 lines indented under it (its hint, or a composition's problems)."""
    status = result.returncode if isinstance(result, subprocess.CompletedProcess) else result.exit_code
    assert status != 0
    assert "Traceback" not in result.stderr
    written = result.stderr.splitlines()
    assert len(written) == lines, result.stderr
    assert written[0].startswith("error: "), result.stderr
    assert all(line.startswith(" " * 7) and line.strip() for line in written[1:]), result.stderr
    for word in words:
        assert word in result.stderr


def test_bad_composition_fails_in_one_line(write_composition):
    path = write_composition('{"architecture": [{"name": "a", "model": "nowhere"}]}')
    result = llmnet("serve", path, "--port", "0")
    assert_one_line_error(result, "problem", 'unknown model "nowhere"', lines=3)  # the two problems
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["no-such-file.json"], "no-such-file.json"),
        (["{composition}", "--api-key", ""], "--api-key is empty"),
        (["{composition}", "--model-id", ""], "--model-id"),
        (["{composition}", "--host", "192.0.2.1"], "cannot listen on 192.0.2.1"),
    ],
)
def test_bad_options_fail_in_one_line(host, write_composition, fake_server, args, words):
    """In-process through the `llmnet` click group (quicker than a subprocess; same error path)."""
    path = str(write_composition(one_node(fake_server().url)))
    argv = ["serve", *(a.format(composition=path) for a in args), "--port", "0"]
    result = CliRunner().invoke(cli, argv, obj={})
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert_one_line_error(result, words, lines=2)  # the error and its hint


def test_port_in_use_fails_in_one_line(write_composition, fake_server):
    path = write_composition(one_node(fake_server().url))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = llmnet("serve", path, "--port", port)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "--port", lines=2)


@pytest.mark.skipif(importlib.util.find_spec("llmnet_env") is None, reason="needs the llmnet-env plugin")
def test_missing_secret_fails_before_serving(host, write_composition, fake_server, monkeypatch):
    monkeypatch.delenv("LLMNET_SERVE_TEST_MISSING", raising=False)
    data = one_node(fake_server().url, **{"api-key": "$secrets.keys.LLMNET_SERVE_TEST_MISSING"})
    data["secrets"] = {"keys": {"source": "env", "variable": "LLMNET_SERVE_TEST_MISSING"}}
    path = write_composition(data)
    result = llmnet("serve", path, "--port", "0", "--workers", "2")  # checked before workers start
    assert_one_line_error(result, "LLMNET_SERVE_TEST_MISSING", lines=2)
    assert "llmnet serve: http" not in result.stderr  # it never claimed to be serving
    one = CliRunner().invoke(cli, ["serve", str(path), "--port", "0"], obj={})  # in the server's loop
    assert one.exit_code == 2
    assert_one_line_error(one, "error: secrets.keys", lines=2)


async def test_workers_serve_from_several_processes(write_composition, fake_server, start_serve):
    path = write_composition(one_node(fake_server("from a worker").url))
    server = start_serve(path, "--workers", "2")
    async with httpx.AsyncClient(timeout=20) as client:
        for _ in range(4):
            reply = await client.post(
                f"{server.url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
            )
            assert reply.json()["choices"][0]["message"]["content"] == "from a worker"
        pid = (await client.get(f"{server.url}/status")).json()["pid"]
    parent = server.process.pid
    assert pid != parent  # answered by a worker, not by the `llmnet` process
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    workers = [c for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(workers) == 2
    assert server.stop() == 0


class FailingSecrets(SecretProvider):
    """A secret source that is always unreachable."""

    async def load(self) -> Mapping[str, str]:
        raise SecretError(
            f"secrets.{self.spec.name}: the vault at 127.0.0.1:1 is unreachable", hint="start it"
        )


class FailingSecretsPlugin:
    @hookimpl
    def llmnet_register_secret_providers(self, register: Any) -> None:
        register("unreachable", FailingSecrets)


async def test_a_pipeline_that_cannot_start_is_one_log_line(host, register_plugin, fake_server, caplog):
    """What a worker process does when its pipeline cannot start: uvicorn logs one line and exits 3."""
    import uvicorn

    register_plugin(FailingSecretsPlugin())
    data = one_node(fake_server().url, **{"api-key": "$secrets.vault.TOKEN"})
    data["secrets"] = {"vault": {"source": "unreachable"}}
    pipeline = Pipeline.from_dict(data, host=host)
    app = create_app(make_settings(composition="inline.json"), pipeline)
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="info")
    with socket.socket() as sock, caplog.at_level(logging.INFO):
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(SystemExit) as stopped:
            await uvicorn.Server(config).serve(sockets=[sock])
    assert stopped.value.code == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "error: secrets.vault: the vault at 127.0.0.1:1 is unreachable (start it)" in errors
    assert not any("Traceback" in message for message in errors)
    assert all(record.exc_info is None for record in caplog.records)


def test_env_file_provides_what_the_composition_needs(write_composition, tmp_path):
    """`--env-file` loads before the composition is read: without it the $ENV api-key is missing; with
    it, serve gets as far as binding its port (taken here, so it stops there)."""
    path = write_composition(one_node("http://127.0.0.1:9", **{"api-key": "$SERVE_ENV_FILE_KEY"}))
    missing = llmnet("serve", path, "--port", "0")
    assert missing.returncode == 2 and "SERVE_ENV_FILE_KEY is not set" in missing.stderr
    env_file = tmp_path / "serve.env"
    env_file.write_text("SERVE_ENV_FILE_KEY=sk-env-file-canary\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        loaded = llmnet("serve", path, "--env-file", env_file, "--port", port)
    assert loaded.returncode != 0 and "SERVE_ENV_FILE_KEY" not in loaded.stderr
    assert str(port) in loaded.stderr and "sk-env-file-canary" not in loaded.stderr
