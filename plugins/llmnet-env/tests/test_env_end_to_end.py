"""A canary secret from a .env file, through the engine and the CLI: it reaches the backend's
Authorization header and nothing else (stdout, stderr, trace, JSON output, validate, errors, logs).

The last tests check what the core does with `$secrets.X.Y` outside `api-key`, `run --env-file`,
`validate` loading the secrets, and the redaction of escaped and cut forms of a secret.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from llmnet_core import HookCall, Pipeline, SecretError, Transport, hookimpl
from llmnet_core.cli import cli


@pytest.fixture
def canary() -> str:
    """A random value that cannot occur anywhere by chance."""
    return f"canary-{secrets.token_hex(12)}"


def composition(url: str, path: str = "keys.env", **extra: Any) -> dict[str, Any]:
    return {
        "secrets": {"e2e": {"source": "env-file", "path": path, "variables": ["API_KEY"]}},
        "models": {
            "m": {
                "type": "external",
                "interface": "openai-api",
                "url": url,
                "api-key": "$secrets.e2e.API_KEY",
                "model": "tiny",
                "retries": 0,
            }
        },
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"], **extra},
            {"name": "output", "adapter": "output"},
        ],
    }


def write_env(folder: Path, canary: str, name: str = "keys.env") -> Path:
    path = folder / name
    path.write_text(f"# llmnet test\nexport API_KEY='{canary}'\nOTHER=x\n", encoding="utf-8")
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def assert_authorized(server: Any, canary: str) -> None:
    assert server.chat_requests, "the backend got no request"
    assert all(r.headers["authorization"] == f"Bearer {canary}" for r in server.chat_requests)


async def test_library_canary_reaches_the_header_and_nothing_else(
    host, fake_server, write_composition, canary
):
    server = fake_server("fine")
    path = write_composition(composition(server.url))
    write_env(path.parent, canary)
    async with Pipeline.from_file(path) as pipeline:
        result = await pipeline.run("hello")
    assert_authorized(server, canary)
    assert result.output == "fine"
    assert canary not in json.dumps(result.to_dict(pipeline.redactor))
    assert canary not in result.trace.render(pipeline.redactor)
    assert pipeline.redactor(f"x {canary} y") == "x *** y"


async def test_from_dict_resolves_relative_paths_from_the_working_directory(
    host, fake_server, tmp_path, monkeypatch, canary
):
    server = fake_server("fine")
    write_env(tmp_path, canary)
    monkeypatch.chdir(tmp_path)  # a parsed composition has no folder: the working directory stands in
    async with Pipeline.from_dict(composition(server.url)) as pipeline:
        assert (await pipeline.run("hi")).output == "fine"
    assert_authorized(server, canary)


def test_cli_run_text_trace_and_json_never_show_the_canary(
    host, fake_server, write_composition, canary, caplog
):
    caplog.set_level(logging.DEBUG)
    server = fake_server("fine")
    path = write_composition(composition(server.url))
    write_env(path.parent, canary)
    text = invoke("--debug", "run", str(path), "hi", "--trace")
    as_json = invoke("run", str(path), "hi", "--format", "json")
    validate = invoke("validate", str(path))
    assert text.exit_code == 0 and text.stdout == "fine\n"
    assert "chat" in text.stderr  # the trace was printed
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["output"] == "fine"
    assert validate.exit_code == 0
    assert len(server.chat_requests) == 2
    assert_authorized(server, canary)
    for result in (text, as_json, validate):
        assert canary not in result.stdout and canary not in result.stderr
    assert canary not in caplog.text


def test_cli_a_backend_echoing_the_canary_is_redacted(host, fake_server, write_composition, canary):
    server = fake_server("fine")
    body = json.dumps({"error": {"message": f"invalid api key {canary}", "type": "auth"}})
    server.push(status=500, body=body)
    server.push(status=500, body=f"plain text echo: {canary}")
    path = write_composition(composition(server.url))
    write_env(path.parent, canary)
    text = invoke("run", str(path), "hi", "--trace")
    as_json = invoke("run", str(path), "hi", "--format", "json")
    assert text.exit_code == 1 and as_json.exit_code == 1
    assert "invalid api key ***" in text.stderr
    error = json.loads(as_json.stdout)["error"]
    assert error["message"].endswith("plain text echo: ***")
    for result in (text, as_json):
        assert canary not in result.stdout and canary not in result.stderr


async def test_library_error_and_its_trace_are_redacted(host, fake_server, write_composition, canary):
    server = fake_server("fine")
    server.push(status=401, body=json.dumps({"error": {"message": f"key {canary} revoked"}}))
    path = write_composition(composition(server.url))
    write_env(path.parent, canary)
    async with Pipeline.from_file(path) as pipeline:
        with pytest.raises(Exception) as caught:
            await pipeline.run("hi")
    assert "key *** revoked" in str(caught.value)
    assert canary not in str(caught.value) and canary not in caught.value.trace.render(pipeline.redactor)
    assert canary not in json.dumps(caught.value.trace.to_dict(pipeline.redactor))


def test_cli_missing_env_file_is_a_clean_error(host, fake_server, write_composition):
    path = write_composition(composition(fake_server().url, path="absent.env"))
    result = invoke("run", str(path), "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: secrets.e2e: the env file ")
    assert "absent.env does not exist" in result.stderr


async def test_missing_variable_fails_before_any_model_call(host, fake_server, write_composition):
    server = fake_server()
    path = write_composition(composition(server.url))
    (path.parent / "keys.env").write_text("NOT_THE_KEY=1\n", encoding="utf-8")
    with pytest.raises(SecretError, match=r"secrets\.e2e: variable API_KEY not found in .*keys\.env"):
        async with Pipeline.from_file(path):
            pass
    assert server.requests == []


# -- what the core does with $secrets outside api-key ----------------------------------------------


class Recording(Transport):
    """A hook transport that keeps the options it was built with (they carry resolved secrets)."""

    seen: ClassVar[list[dict[str, Any]]] = []

    async def call(self, call: HookCall) -> Any:
        Recording.seen.append(dict(self.spec.options))
        return None


class RecordingPlugin:
    @hookimpl
    def llmnet_register_transports(self, register: Any) -> None:
        register("recording", Recording)


async def test_secrets_in_url_parameters_context_and_function_fields(
    host, register_plugin, fake_server, write_composition, canary
):
    register_plugin(RecordingPlugin())
    Recording.seen.clear()
    server = fake_server("fine")
    data = composition(
        "$secrets.e2e.BASE_URL",
        context="system says $secrets.e2e.API_KEY",
        hooks={"pre": [{"function": "audit", "mode": "transform"}]},
    )
    data["secrets"]["e2e"]["variables"] = ["API_KEY", "BASE_URL"]
    data["models"]["m"]["parameters"] = {"user": "$secrets.e2e.API_KEY", "temperature": 0}
    data["functions"] = {
        "audit": {"type": "recording", "headers": {"Authorization": "Bearer $secrets.e2e.API_KEY"}}
    }
    path = write_composition(data)
    (path.parent / "keys.env").write_text(f"API_KEY={canary}\nBASE_URL={server.url}\n", encoding="utf-8")
    async with Pipeline.from_file(path) as pipeline:
        result = await pipeline.run("hi")
    assert result.output == "fine"
    request = server.chat_requests[0]
    assert request.headers["authorization"] == f"Bearer {canary}"
    assert request.json["user"] == canary and request.json["temperature"] == 0
    assert request.json["messages"][0] == {"role": "system", "content": f"system says {canary}"}
    assert Recording.seen == [{"headers": {"Authorization": f"Bearer {canary}"}}]


def test_cli_run_env_file_option(host, fake_server, write_composition, tmp_path, canary, monkeypatch):
    # set (so that monkeypatch restores it afterwards) to a stale value that the file overrides
    monkeypatch.setenv("LLMNET_E2E_KEY", "stale-value-from-the-shell")
    server = fake_server("fine")
    data = composition(server.url)
    data["secrets"] = {"e2e": {"source": "env", "variable": "LLMNET_E2E_KEY"}}
    data["models"]["m"]["api-key"] = "$secrets.e2e.LLMNET_E2E_KEY"
    path = write_composition(data)
    env_file = tmp_path / "run.env"
    env_file.write_text(f"LLMNET_E2E_KEY={canary}\n", encoding="utf-8")
    result = invoke("run", "--env-file", str(env_file), str(path), "hi")
    assert result.exit_code == 0 and result.stdout == "fine\n"
    assert_authorized(server, canary)


def test_cli_validate_reports_a_missing_secret_variable(host, write_composition):
    path = write_composition(composition("http://127.0.0.1:9"))
    (path.parent / "keys.env").write_text("OTHER=present-value-123\n", encoding="utf-8")
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert "API_KEY" in result.stderr and "secrets.e2e" in result.stderr
    assert "present-value-123" not in result.stdout + result.stderr


def test_cli_validate_reports_a_reference_to_an_unknown_variable(host, write_composition, canary):
    data = composition("http://127.0.0.1:9")
    data["models"]["m"]["api-key"] = "$secrets.e2e.NO_SUCH_VAR"
    path = write_composition(data)
    write_env(path.parent, canary)
    result = invoke("validate", str(path))
    assert result.exit_code == 2 and "NO_SUCH_VAR" in result.stderr
    assert canary not in result.stdout + result.stderr


# -- forms of a secret that a server may echo: JSON-escaped, cut by an excerpt ---------------------


async def failing_run(fake_server: Any, write_composition: Any, secret: str, body: str) -> str:
    server = fake_server("fine")
    server.push(status=500, body=body)
    path = write_composition(composition(server.url))
    (path.parent / "keys.env").write_text(f"API_KEY={json.dumps(secret)}\n", encoding="utf-8")
    async with Pipeline.from_file(path) as pipeline:
        with pytest.raises(Exception) as caught:
            await pipeline.run("hi")
    return str(caught.value)


async def test_a_secret_echoed_json_escaped_is_redacted(host, fake_server, write_composition):
    secret = f'pa"ss\\word-{secrets.token_hex(8)}'  # a quote and a backslash: JSON escapes both
    message = await failing_run(fake_server, write_composition, secret, json.dumps({"echo": secret}))
    assert "answered HTTP 500" in message
    assert secret[-16:] not in message


async def test_a_secret_cut_by_the_excerpt_limit_leaves_no_prefix(host, fake_server, write_composition):
    secret = secrets.token_hex(16)
    message = await failing_run(fake_server, write_composition, secret, "x" * 190 + secret)
    assert "answered HTTP 500" in message
    assert secret[:6] not in message
