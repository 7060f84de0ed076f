"""A canary secret stored in a real OpenBao server, through the engine and the CLI: it reaches the
backend's Authorization header and nothing else (stdout, stderr, trace, JSON output, validate, errors,
debug logs); the Vault token shows up nowhere either."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest
from click.testing import CliRunner

from llmnet_core import Pipeline, SecretError
from llmnet_core.cli import cli


@pytest.fixture
def canary(vault_env: Any) -> tuple[str, str]:
    """A random value stored at a fresh KV v2 path; returns (value, path as users write it)."""
    value = f"canary-{secrets.token_hex(12)}"
    name = f"e2e/{secrets.token_hex(4)}"
    client = vault_env.client()
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"API_KEY": value, "OTHER": "x"})
    client.adapter.close()
    return value, f"secret/data/{name}"


def composition(url: str, path: str, **secret: Any) -> dict[str, Any]:
    return {
        "secrets": {"vault": {"source": "vault", "path": path, "variables": ["API_KEY"], **secret}},
        "models": {
            "m": {
                "type": "external",
                "interface": "openai-api",
                "url": url,
                "api-key": "$secrets.vault.API_KEY",
                "model": "tiny",
                "retries": 0,
            }
        },
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def assert_nowhere(texts: list[str], *values: str) -> None:
    for value in values:
        assert all(value not in text for text in texts), f"{value[:8]}… leaked"


async def test_library_from_dict_and_from_file(vault_env, fake_server, write_composition, canary, host):
    value, path = canary
    server = fake_server("fine")
    data = composition(server.url, path, address=vault_env.address)
    async with Pipeline.from_dict(data) as pipeline:
        first = await pipeline.run("hello")
    async with Pipeline.from_file(write_composition(composition(server.url, path))) as pipeline:
        second = await pipeline.run("hello")  # the address comes from VAULT_ADDR this time
    assert first.output == second.output == "fine"
    assert [r.headers["authorization"] for r in server.chat_requests] == [f"Bearer {value}"] * 2
    texts = [json.dumps(second.to_dict(pipeline.redactor)), second.trace.render(pipeline.redactor)]
    assert_nowhere(texts, value, vault_env.root_token)


def test_cli_run_trace_json_validate_and_debug_logs(
    vault_env, fake_server, write_composition, canary, host, caplog
):
    caplog.set_level(logging.DEBUG)
    value, path = canary
    server = fake_server("fine")
    file = str(write_composition(composition(server.url, path)))
    text = invoke("--debug", "run", file, "hi", "--trace")
    as_json = invoke("run", file, "hi", "--format", "json")
    validate = invoke("validate", file)
    assert text.exit_code == 0 and text.stdout == "fine\n" and "chat" in text.stderr
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["output"] == "fine"
    assert validate.exit_code == 0
    assert [r.headers["authorization"] for r in server.chat_requests] == [f"Bearer {value}"] * 2
    outputs = [r.stdout for r in (text, as_json, validate)] + [r.stderr for r in (text, as_json, validate)]
    assert_nowhere([*outputs, caplog.text], value, vault_env.root_token)


def test_cli_backend_echoing_the_canary_is_redacted(vault_env, fake_server, write_composition, canary, host):
    value, path = canary
    server = fake_server("fine")
    server.push(status=500, body=json.dumps({"error": {"message": f"bad key {value}"}}))
    server.push(status=500, body=json.dumps({"error": {"message": f"bad key {value}"}}))
    file = str(write_composition(composition(server.url, path)))
    text = invoke("run", file, "hi", "--trace")
    as_json = invoke("run", file, "hi", "--format", "json")
    assert text.exit_code == as_json.exit_code == 1
    assert "bad key ***" in text.stderr
    payload = json.loads(as_json.stdout)
    assert payload["error"]["message"].endswith("bad key ***")
    assert payload["trace"]["error"].endswith("bad key ***")
    assert_nowhere([text.stdout, text.stderr, as_json.stdout, as_json.stderr], value, vault_env.root_token)


def test_cli_vault_failures_are_clean_errors(vault_env, fake_server, write_composition, monkeypatch, host):
    server = fake_server("fine")
    missing = invoke("run", str(write_composition(composition(server.url, "secret/data/e2e/none"))), "hi")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: secrets.vault: secret e2e/none not found in the KV v2 engine")
    monkeypatch.setenv("VAULT_TOKEN", "s.not-a-valid-token-123")
    as_json = invoke(
        "run",
        str(write_composition(composition(server.url, "secret/data/llmnet/api"))),
        "hi",
        "--format",
        "json",
    )
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == 2 and error["type"] == "SecretError"
    assert "refused the token from VAULT_TOKEN" in error["message"] and "HTTP 403" in error["message"]
    assert "s.not-a-valid-token-123" not in as_json.stdout + as_json.stderr
    assert server.requests == []


async def test_a_reference_to_a_variable_the_block_lacks(
    vault_env, fake_server, write_composition, canary, host
):
    value, path = canary
    data = composition(fake_server().url, path)
    data["models"]["m"]["api-key"] = "$secrets.vault.NOT_LOADED"
    with pytest.raises(SecretError) as caught:
        async with Pipeline.from_dict(data):
            pass
    assert caught.value.message == 'models.m.api-key: secret "vault" has no variable NOT_LOADED'
    assert value not in str(caught.value)
