"""The `llmnet` command line: run, validate, schema, plugins — output, exit codes, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from llmnet_core import hookimpl
from llmnet_core.cli import cli

LLMNET = str(Path(sys.executable).parent / "llmnet")


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def chatbot(url: str, **model: Any) -> dict[str, Any]:
    return {
        "models": {
            "bot": {"type": "external", "interface": "openai-api", "url": url, "api-key": None, **model}
        },
        "architecture": [
            {"name": "chat", "layer": 0, "model": "bot", "adapter": "openai-api", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def test_run_prints_the_answer(host, fake_server, write_composition):
    server = fake_server("Paris.")
    result = invoke("run", str(write_composition(chatbot(server.url))), "Capital of France?")
    assert result.exit_code == 0
    assert result.stdout == "Paris.\n"


def test_run_reads_the_prompt_from_stdin(host, fake_server, write_composition):
    server = fake_server(lambda body: body["messages"][-1]["content"][::-1])
    result = invoke("run", str(write_composition(chatbot(server.url))), input="abc\n")
    assert result.exit_code == 0 and result.stdout == "cba\n"


def test_run_json_has_output_usage_and_trace(host, fake_server, write_composition):
    server = fake_server("one two")
    result = invoke("run", str(write_composition(chatbot(server.url))), "hi", "--format", "json")
    data = json.loads(result.stdout)
    assert data["output"] == "one two"
    assert data["usage"]["completion_tokens"] == 2
    assert [h["node"] for h in data["trace"]["hops"]] == ["chat", "output"]
    assert data["trace"]["hops"][0]["model"] == "bot"


def test_run_trace_table_goes_to_stderr(host, fake_server, write_composition):
    server = fake_server("fine")
    result = invoke("run", str(write_composition(chatbot(server.url))), "hi", "--trace")
    assert result.stdout == "fine\n"
    assert "hop" in result.stderr and "chat" in result.stderr and "1 model call" in result.stderr


def test_no_stream_sends_a_plain_request(host, fake_server, write_composition):
    server = fake_server("fine")
    invoke("run", str(write_composition(chatbot(server.url))), "hi", "--no-stream")
    assert "stream" not in server.chat_requests[0].json


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("refused", "connection refused"),
        ("500", "HTTP 500"),
        ("not-json", "not a chat completion"),
        ("slow", "did not answer within"),
    ],
)
def test_backend_failures_are_clear_errors(host, fake_server, write_composition, setup, expected):
    if setup == "refused":
        url = "http://127.0.0.1:9"
    else:
        server = fake_server("late", delay=3 if setup == "slow" else 0)
        url = server.url
        for _ in range(3):
            if setup == "500":
                server.push(status=500, body="internal kaboom")
            if setup == "not-json":
                server.push(body="<html>proxy error</html>")
    path = write_composition(chatbot(url, timeout=0.5, retries=2, **{"retry-backoff": 0.01}))
    started = time.monotonic()
    result = invoke("run", str(path), "hi", "--no-stream")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith('error: node "chat": ')
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert time.monotonic() - started < 10
    if setup == "slow":
        assert len(server.chat_requests) == 1  # a slow model is not asked again


def test_429_with_retry_after_is_retried(host, fake_server, write_composition):
    server = fake_server("after waiting")
    server.push(status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    result = invoke("run", str(write_composition(chatbot(server.url))), "hi")
    assert result.exit_code == 0 and result.stdout == "after waiting\n"
    assert time.monotonic() - started >= 0.9
    assert len(server.chat_requests) == 2


def test_run_failure_as_json_still_prints_structured_output(host, write_composition):
    path = write_composition(chatbot("http://127.0.0.1:9", retries=0))
    result = invoke("run", str(path), "hi", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["error"]["type"] == "BackendError"
    assert data["trace"]["hops"][0]["node"] == "chat"


def test_usage_errors_exit_2(host, write_composition, tmp_path):
    assert invoke("run").exit_code == 2
    result = invoke("run", str(tmp_path / "missing.json"), "hi")
    assert result.exit_code == 2 and "no such file" in result.stderr
    result = invoke("run", "--format", "json")
    assert result.exit_code == 2 and "the prompt is empty" in result.stderr


def test_schema_is_json_schema_of_the_format():
    schema = json.loads(invoke("schema").stdout)
    assert "architecture" in schema["properties"]
    node = schema["$defs"]["NodeConfig"]["properties"]
    assert {"output-to", "use-case", "extra-options", "if"} <= set(node)


def test_plugins_lists_builtins_and_what_they_register(host):
    text = invoke("plugins").stdout
    assert "llmnet-openai" in text and "backends: openai-api" in text
    assert "llmnet-conditions" in text and "matches()" in text
    data = json.loads(invoke("plugins", "--json").stdout)
    names = {p["name"]: p for p in data["plugins"]}
    assert names["llmnet-openai"]["provides"] == {"backends": ["openai-api"]}
    assert names["llmnet-openai"]["version"] == "0.1.0"
    assert names["llmnet-routers"]["provides"] == {"routers": ["constrained", "llm", "semantic"]}
    assert all(name.startswith("llmnet-") for name in names)  # the core registers nothing itself


@pytest.fixture
def broken_plugins(tmp_path: Path) -> dict[str, str]:
    """Two entry-point plugins on PYTHONPATH: one fails to import, one misspells a hook."""
    for dist, module, body in [
        ("broken_plugin", "broken_plugin_mod", "import numpyy\n"),
        (
            "typo_plugin",
            "typo_plugin_mod",
            "from llmnet_core import hookimpl\n\n"
            "@hookimpl\ndef llmnet_register_backend(register):\n    pass\n",
        ),
    ]:
        (tmp_path / f"{module}.py").write_text(body)
        info = tmp_path / f"{dist}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 0.0.1\n"
        )
        (info / "entry_points.txt").write_text(f"[llmnet]\n{dist} = {module}\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


def test_a_broken_plugin_is_reported_and_llmnet_keeps_working(broken_plugins):
    run = subprocess.run([LLMNET, "plugins"], env=broken_plugins, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "failed to load:" in run.stdout
    assert "broken-plugin" in run.stdout and "No module named 'numpyy'" in run.stdout
    assert "LLMNET_BLOCK_PLUGINS=broken-plugin" in run.stdout
    assert "did you mean llmnet_register_backends" in run.stdout
    assert "llmnet-openai" in run.stdout
    blocked = {**broken_plugins, "LLMNET_BLOCK_PLUGINS": "broken-plugin,typo-plugin"}
    run = subprocess.run([LLMNET, "plugins"], env=blocked, capture_output=True, text=True, timeout=60)
    assert "failed to load" not in run.stdout and "llmnet-openai" in run.stdout


def test_load_plugins_empty_loads_none(broken_plugins):
    env = {**broken_plugins, "LLMNET_LOAD_PLUGINS": ""}
    run = subprocess.run([LLMNET, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=60)
    names = [p["name"] for p in json.loads(run.stdout)["plugins"]]
    assert names == []
    env["LLMNET_LOAD_PLUGINS"] = "llmnet-openai"
    run = subprocess.run([LLMNET, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert [p["name"] for p in json.loads(run.stdout)["plugins"]] == ["llmnet-openai"]


def test_help_lists_the_commands():
    run = subprocess.run([LLMNET, "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    for command in ("run", "validate", "schema", "plugins"):
        assert command in run.stdout


class CommandPlugin:
    """Adds one command (and nothing else) through llmnet_register_commands."""

    @hookimpl
    def llmnet_register_commands(self, cli: Any) -> None:
        @cli.command(name="hello-test")
        def hello() -> None:
            """Say hello."""
            click.echo("hello from a plugin")


def test_plugins_lists_the_commands_a_plugin_adds(host, register_plugin):
    register_plugin(CommandPlugin(), "command-plugin")
    line = next(line for line in invoke("plugins").stdout.splitlines() if line.startswith("command-plugin"))
    assert line.rstrip().endswith("commands: hello-test") and "registers nothing" not in line
    data = json.loads(invoke("plugins", "--json").stdout)
    assert {p["name"]: p for p in data["plugins"]}["command-plugin"]["provides"] == {
        "commands": ["hello-test"]
    }
    assert host.commands()["command-plugin"] == ["hello-test"]


# -- what users of the earlier llmnet type ---------------------------------------------------------


def test_run_with_a_file_and_no_prompt_says_how_to_ask_and_how_to_serve(host, write_composition):
    path = str(write_composition({"architecture": []}, "pipeline.json"))
    result = invoke("run", path, input="")
    assert result.exit_code == 2
    assert f'llmnet run {path} "your question"' in result.stderr
    assert f"llmnet serve {path}" in result.stderr


@pytest.mark.parametrize(
    ("option", "instead"),
    [
        (["--port", "9000"], "llmnet serve {path} --port 9000"),
        (["--bind-addr", "0.0.0.0"], "llmnet serve {path} --host 0.0.0.0"),
        (["--dry-run"], "llmnet validate {path}"),
    ],
)
def test_server_options_of_the_earlier_run_say_what_to_type(host, write_composition, option, instead):
    path = str(write_composition({"architecture": []}, "pipeline.json"))
    result = invoke("run", path, *option)
    assert result.exit_code == 2
    assert "takes no " + option[0] in result.stderr
    assert instead.format(path=path) in result.stderr
