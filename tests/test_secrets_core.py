"""Secrets in the core: redaction of every form of a canary, `--env-file`, and `llmnet validate` loading
the secret blocks and reporting what fails without printing a value. An in-process secret provider keeps
these tests independent of the secret plugins (llmnet-env and llmnet-vault test themselves)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner

from llmnet_core import Pipeline, Redactor, SecretError, SecretProvider, UsageError, excerpt, hookimpl
from llmnet_core.cli import cli
from llmnet_core.envfile import load_env_file
from llmnet_core.secret_blocks import secret_problems


@pytest.fixture
def canary() -> str:
    """A random value with a quote, a backslash, a space, a slash and non-ASCII: every form differs."""
    return f'can"ary\\ {secrets.token_hex(8)}/é'


class Memory(SecretProvider):
    """Returns its `values` option; `fail` raises a SecretError, `crash` a bare exception."""

    loads: ClassVar[int] = 0

    async def load(self) -> dict[str, str]:
        Memory.loads += 1
        options = self.spec.options
        if "fail" in options:
            raise SecretError(f"secrets.{self.spec.name}: {options['fail']}", hint="ask the vault admin")
        if "crash" in options:
            raise RuntimeError(options["crash"])
        return dict(options.get("values", {}))


class MemoryPlugin:
    @hookimpl
    def llmnet_register_secret_providers(self, register: Any) -> None:
        register("memory", Memory)


@pytest.fixture
def memory(register_plugin) -> type[Memory]:
    register_plugin(MemoryPlugin(), "memory-secrets")
    Memory.loads = 0
    return Memory


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output + result.stderr
    return result


def composition(
    url: str, blocks: dict[str, Any], api_key: str | None = "$secrets.main.KEY"
) -> dict[str, Any]:
    return {
        "secrets": {name: {"source": "memory", **block} for name, block in blocks.items()},
        "models": {
            "m": {"type": "external", "interface": "openai-api", "url": url, "api-key": api_key, "retries": 0}
        },
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


# -- redaction ----------------------------------------------------------------------------------------


def test_every_form_of_a_secret_is_masked(canary):
    redact = Redactor([canary])
    forms = {
        "plain": canary,
        "json": json.dumps(canary, ensure_ascii=False)[1:-1],
        "json-ascii": json.dumps(canary)[1:-1],
        "url": quote(canary, safe=""),
        "url-path": quote(canary),
        "url-plus": quote_plus(canary),
    }
    assert len(set(forms.values())) == len(forms)  # the canary really has six different forms
    for name, form in forms.items():
        assert redact(f"before {form} after") == "before *** after", name
    body = json.dumps({"echo": canary, "again": [canary]})
    assert canary[-16:] not in redact(body) and redact(body).count("***") == 2


def test_a_secret_cut_at_an_ellipsis_leaves_neither_end(canary):
    redact = Redactor([canary])
    for cut in range(4, len(canary)):
        head, tail = canary[:cut], canary[cut:]
        assert redact(f"reply: {head}…") == "reply: ***…"
        if len(tail) >= 4:
            assert redact(f"…{tail} (exit 1)") == "…*** (exit 1)"
    # fewer than four characters at the cut are kept: they would mask ordinary words
    assert redact(f"x {canary[:3]}…") == f"x {canary[:3]}…"
    # away from a cut, a prefix is ordinary text
    assert redact(f"{canary[:8]} and more") == f"{canary[:8]} and more"


def test_without_secrets_the_text_is_returned_untouched():
    text = "a token… with an ellipsis"
    assert Redactor()(text) is text
    assert Redactor(["abc"])(text) is text  # too short to be masked: no pattern at all
    assert not Redactor(["abc"])


def test_excerpt_masks_before_cutting_and_keeps_one_line(canary):
    live = Redactor([canary])  # any live redactor (a running pipeline's) is consulted
    text = "x" * 190 + canary + "\n\ntrailer"
    cut = excerpt(text, 200)
    assert len(cut) <= 200 and cut.endswith("…") and "\n" not in cut
    assert canary[:4] not in cut and "***" in cut
    end = excerpt("start " + canary + " " + "y" * 300, 50, keep="end")
    assert end.startswith("…") and len(end) == 50 and end.endswith("y")
    assert excerpt("  short \n text ", 200) == "short text"
    assert excerpt(f"key={canary}", 200) == "key=***"
    del live


async def test_an_echoed_secret_is_masked_in_the_error_and_the_trace(
    host, memory, fake_server, write_composition, canary
):
    server = fake_server("fine")
    server.push(status=500, body=json.dumps({"detail": {"echo": canary}}))
    data = composition(server.url, {"main": {"values": {"KEY": canary}}}, api_key=None)
    data["models"]["m"]["parameters"] = {"user": "$secrets.main.KEY"}  # sent in the body, echoed back
    path = write_composition(data)
    async with Pipeline.from_file(path) as pipeline:
        with pytest.raises(Exception) as caught:
            await pipeline.run("hi")
    message = str(caught.value)
    assert "answered HTTP 500" in message and "***" in message
    assert json.dumps(canary)[1:9] not in message
    assert canary[-16:] not in json.dumps(caught.value.trace.to_dict(pipeline.redactor))


# -- --env-file -------------------------------------------------------------------------------------


def test_load_env_file_parses_dotenv_and_the_file_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMNET_T_A", "old")
    monkeypatch.setenv("LLMNET_T_HOST", "example.org")
    for name in ("LLMNET_T_B", "LLMNET_T_C", "LLMNET_T_D", "LLMNET_T_E", "LLMNET_T_F"):
        monkeypatch.setenv(name, "placeholder")  # so that monkeypatch restores them afterwards
    env = tmp_path / "test.env"
    env.write_text(
        "# a comment\n"
        "export LLMNET_T_A='single ${LLMNET_T_HOST} kept'\n"
        'LLMNET_T_B="two\\nlines \\"quoted\\""  # comment\n'
        "LLMNET_T_C=plain value # comment\n"
        "LLMNET_T_D=http://${LLMNET_T_HOST}:8080/${LLMNET_T_NONE:-v1}\n"
        'LLMNET_T_E="multi\nline"\n'
        "LLMNET_T_F=\n"
        "LLMNET_T_BARE\n",
        encoding="utf-8",
    )
    values = load_env_file(env)
    assert values == {
        "LLMNET_T_A": "single ${LLMNET_T_HOST} kept",
        "LLMNET_T_B": 'two\nlines "quoted"',
        "LLMNET_T_C": "plain value",
        "LLMNET_T_D": "http://example.org:8080/v1",
        "LLMNET_T_E": "multi\nline",
        "LLMNET_T_F": "",
    }
    import os

    assert os.environ["LLMNET_T_A"] == values["LLMNET_T_A"]  # the file overrides the environment
    assert "LLMNET_T_BARE" not in os.environ
    target = {"LLMNET_T_A": "kept"}
    load_env_file(env, override=False, environ=target)
    assert target["LLMNET_T_A"] == "kept" and target["LLMNET_T_C"] == "plain value"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("A=1\nthis line is secret-ish\n", "line 2: expected NAME=value"),
        ('A=1\nB="secret-ish value\nC=3\n', "line 2: the double quote is never closed"),
        ("A='x' secret-ish\n", "line 1: unexpected text after the closing quote"),
    ],
)
def test_a_bad_env_file_names_the_line_but_not_its_content(tmp_path, text, where):
    env = tmp_path / "bad.env"
    env.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        load_env_file(env, environ={})
    assert where in caught.value.message and str(env) in caught.value.message
    assert "secret-ish" not in str(caught.value)


def test_run_env_file_sets_the_environment_first(host, memory, fake_server, write_composition, monkeypatch):
    class FromEnviron(SecretProvider):
        async def load(self) -> dict[str, str]:
            import os

            return {"KEY": os.environ["LLMNET_T_KEY"]}

    class Plugin:
        @hookimpl
        def llmnet_register_secret_providers(self, register: Any) -> None:
            register("from-environ", FromEnviron)

    host.register(Plugin(), "from-environ-plugin")
    monkeypatch.setenv("LLMNET_T_KEY", "stale-value-from-the-shell")
    server = fake_server("fine")
    data = composition(server.url, {})
    data["secrets"] = {"main": {"source": "from-environ"}}
    path = write_composition(data)
    env = path.parent / "run.env"
    env.write_text("LLMNET_T_KEY=key-from-the-env-file\n", encoding="utf-8")
    result = invoke("run", "--env-file", str(env), str(path), "hi")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "fine\n"
    assert server.chat_requests[0].headers["authorization"] == "Bearer key-from-the-env-file"
    validate = invoke("validate", str(path), "--env-file", str(env))
    assert validate.exit_code == 0 and "key-from-the-env-file" not in validate.output


def test_a_missing_env_file_is_a_usage_error(host, write_composition):
    path = write_composition(composition("http://127.0.0.1:9", {}, api_key=None))
    for command in ("run", "validate"):
        args = [command, "--env-file", "nowhere.env", str(path)] + (["hi"] if command == "run" else [])
        result = invoke(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith("error: --env-file nowhere.env: no such file")


# -- validate loads the secrets -----------------------------------------------------------------------


def test_validate_loads_every_block_and_reports_what_fails(host, memory, write_composition, canary):
    blocks = {
        "main": {"values": {"KEY": canary, "OTHER": "other-value-123"}},
        "vault": {"fail": "permission denied on secret/llmnet"},
        "buggy": {"crash": f"boom {canary}"},
    }
    data = composition("http://127.0.0.1:9", blocks)
    data["models"]["m"]["parameters"] = {"user": "$secrets.main.NOPE", "seed": "$secrets.vault.SEED"}
    data["architecture"][0]["context"] = "$secrets.ghost.X"
    path = write_composition(data)
    text = invoke("validate", str(path))
    as_json = invoke("validate", str(path), "--json")
    assert text.exit_code == 2 and as_json.exit_code == 2
    report = json.loads(as_json.stdout)
    assert report["valid"] is False
    found = {(p["path"], p["message"]) for p in report["problems"]}
    # the validator reports the undefined block without loading anything
    assert any(p == "architecture[0].context" and "ghost" in m for p, m in found)
    assert memory.loads == 0
    data["architecture"][0].pop("context")
    path = write_composition(data)
    text = invoke("validate", str(path))
    report = json.loads(invoke("validate", str(path), "--json").stdout)
    found = {(p["path"], p["message"]) for p in report["problems"]}
    assert ("secrets.vault", "permission denied on secret/llmnet") in found
    assert ("secrets.buggy", "could not be loaded (RuntimeError)") in found
    assert ("models.m.parameters.user", 'secret "main" has no variable NOPE') in found
    assert not any(p.startswith("models.m.parameters.seed") for p, _ in found)  # its block failed
    assert report["secrets_checked"] is True
    assert text.exit_code == 2
    assert "3 problems" in text.stderr and "ask the vault admin" in text.stderr
    assert "variables of main: KEY, OTHER" in text.stderr  # names, not values
    for output in (text.stdout, text.stderr, json.dumps(report)):
        assert canary not in output and "other-value-123" not in output
        assert json.dumps(canary)[1:-1] not in output


def test_validate_passes_when_every_secret_resolves(host, memory, write_composition, canary):
    key = canary.replace("é", "e")  # an API key travels in an HTTP header: ASCII only
    path = write_composition(composition("http://127.0.0.1:9", {"main": {"values": {"KEY": key}}}))
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert "1 secret block loaded" in result.stdout and memory.loads == 1
    assert key not in result.output


def test_validate_refuses_an_api_key_that_cannot_be_sent_without_showing_it(
    host, memory, write_composition, canary
):
    path = write_composition(composition("http://127.0.0.1:9", {"main": {"values": {"KEY": canary}}}))
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert "models.m.api-key: contains characters that cannot be sent in an HTTP header" in result.stderr
    assert canary not in result.output and json.dumps(canary)[1:-1] not in result.output


def test_no_secrets_skips_loading(host, memory, write_composition):
    path = write_composition(composition("http://127.0.0.1:9", {"main": {"fail": "vault is offline"}}))
    offline = invoke("validate", "--no-secrets", str(path))
    assert offline.exit_code == 0, offline.stderr
    assert "1 secret block not loaded (--no-secrets)" in offline.stdout
    assert (
        json.loads(invoke("validate", "--no-secrets", "--json", str(path)).stdout)["secrets_checked"] is False
    )
    assert memory.loads == 0
    online = invoke("validate", str(path))
    assert online.exit_code == 2 and "secrets.main: vault is offline" in online.stderr


async def test_pipeline_start_shares_the_loading_and_stops_at_the_first_problem(
    host, memory, fake_server, write_composition, canary
):
    server = fake_server()
    blocks = {"main": {"values": {"KEY": canary}}, "later": {"fail": f"cannot say {canary}"}}
    with pytest.raises(SecretError) as caught:
        async with Pipeline.from_file(write_composition(composition(server.url, blocks))):
            pass
    assert caught.value.message == "secrets.later: cannot say ***"
    data = composition(server.url, {"main": {"values": {"KEY": canary}}}, api_key="$secrets.main.NOPE")
    with pytest.raises(SecretError, match=r'models\.m\.api-key: secret "main" has no variable NOPE'):
        async with Pipeline.from_file(write_composition(data)):
            pass
    assert server.requests == []
    pipeline = Pipeline.from_file(write_composition(data))
    check = await secret_problems(pipeline.composition, pipeline.registries)
    assert [(p.path, p.severity) for p in check] == [("models.m.api-key", "error")]


def test_relative_paths_in_specs_start_at_the_composition_folder(host, write_composition):
    from llmnet_core import load_composition

    data = composition("http://127.0.0.1:9", {}, api_key=None)
    data["functions"] = {"f": {"type": "not-installed", "url": "http://127.0.0.1:9/x", "timeout": 2}}
    path = write_composition(data)
    comp = load_composition(path, registries=host.registries)
    spec = comp.function_spec("f")
    assert spec.base_dir == Path(path).resolve().parent == comp.model_spec("m").base_dir
    assert spec.timeout == 2 and dict(spec.options) == {"url": "http://127.0.0.1:9/x"}
