"""The command line where it used to hurt: a mistyped composition name, `--debug` after the command, the
router's warning, and `--set PATH=VALUE` overrides (in-process with CliRunner, and as real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from llmnet_core import hookimpl
from llmnet_core.arguments import looks_like_a_file
from llmnet_core.cli import cli
from llmnet_core.plugins import PluginHost, reset_host

LLMNET = str(Path(sys.executable).parent / "llmnet")
TIMEOUT = 120  # seconds; a bound for a command to finish, never a measure of speed


def invoke(*args: Any, env: dict[str, str] | None = None, traceback_ok: bool = False) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    if not traceback_ok:
        assert "Traceback" not in result.output and "Traceback" not in result.stderr, result.stderr
    return result


def chatbot(url: str, **model: Any) -> dict[str, Any]:
    return {
        "models": {"bot": {"type": "external", "url": url, "api-key": None, "retries": 0, **model}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "bot", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


# -- a composition name that is not there ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["chat.jsn", "hi"], "chat.jsn: no such file", "did you mean chat.json?"),
        (["chat.jsonc", "hi"], "chat.jsonc: no such file", "did you mean chat.json?"),
        (["nosuch.jsonc"], "nosuch.jsonc: no such file", "composition files there: chat.json"),
        (["chats/chat.json", "hi"], "chats/chat.json: no such file", "there is no folder chats"),
        (
            ["confs/chat.json", "hi"],
            "confs/chat.json: no such file",
            "there is no folder confs; did you mean conf/chat.json?",
        ),
    ],
)
def test_a_missing_file_is_an_error_that_names_it_and_what_is_near(
    host, tmp_path, monkeypatch, args, message, hint
):
    (tmp_path / "chat.json").write_text(json.dumps(chatbot("http://127.0.0.1:9")), encoding="utf-8")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "chat.json").write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("run", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: {message}"
    assert lines[1].strip() == hint, lines


def test_validate_says_the_same(host, tmp_path, monkeypatch):
    (tmp_path / "support.jsonc").write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", "suport.jsonc")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: suport.jsonc: no such file",
        "       did you mean support.jsonc?",
    ]


def test_a_mistyped_name_as_users_type_it(tmp_path):
    (tmp_path / "chat.json").write_text(json.dumps(chatbot("http://127.0.0.1:9")), encoding="utf-8")
    done = subprocess.run(
        [LLMNET, "run", "chat.jsn", "hi"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: chat.jsn: no such file\n       did you mean chat.json?\n"


@pytest.mark.parametrize(
    ("word", "file"),
    [
        ("chat.json", True),
        ("chat.jsonc", True),
        ("chat.json5", True),
        ("chat.jsn", True),
        ("chat.josn", True),
        ("chat.jsonn", True),
        ("configs/chat", True),
        ("./chat", True),
        ("hi", False),
        ("What is 1.5?", False),
        ("e.g.", False),
        ("Node.js", False),
        ("notes.txt", False),
        ("3.14", False),
        ("and/or this", False),
        ("", False),
    ],
)
def test_what_looks_like_a_file(word, file):
    assert looks_like_a_file(word) is file


def test_a_prompt_that_names_no_file_runs_the_default_pipeline(tmp_path, monkeypatch):
    # no plugins loaded: the default pipeline cannot load, which shows that it is the one that was tried
    monkeypatch.chdir(tmp_path)
    previous = reset_host(PluginHost(environ={"LLMNET_LOAD_PLUGINS": ""}))
    try:
        result = invoke("run", "hello", "there")
    finally:
        reset_host(previous)
    assert result.exit_code == 2
    assert "default.jsonc: " in result.stderr and "no such file" not in result.stderr


# -- global options after the command name ----------------------------------------------------------------


def test_debug_after_the_command_name_shows_the_traceback(host, write_composition):
    path = write_composition(chatbot("http://127.0.0.1:9"))
    plain = invoke("run", path, "hi")
    assert plain.exit_code == 1 and "Traceback" not in plain.stderr
    for args in (
        ["--debug", "run", path, "hi"],
        ["run", "--debug", path, "hi"],
        ["run", path, "hi", "--debug"],
    ):
        result = invoke(*args, traceback_ok=True)
        assert result.exit_code == 1, args
        assert "Traceback (most recent call last)" in result.stderr, args
        assert result.stderr.rstrip().splitlines()[-2].startswith('error: node "chat": could not reach')


def test_debug_after_validate_and_a_plugins_command(host, register_plugin, write_composition):
    class Hello:
        @hookimpl
        def llmnet_register_commands(self, cli: Any) -> None:
            @cli.command(name="hello-debug-test")
            @click.pass_context
            def hello(ctx: click.Context) -> None:
                """Say whether --debug is on."""
                click.echo(f"debug={ctx.find_root().obj.get('debug')}")

    register_plugin(Hello(), "hello-debug-plugin")
    from llmnet_core.plugins import get_host

    get_host().add_commands(cli)  # the group met its plugins' commands before this test's plugin
    assert invoke("hello-debug-test", "--debug").stdout == "debug=True\n"
    assert invoke("hello-debug-test").stdout == "debug=False\n"
    result = invoke("validate", write_composition(chatbot("http://127.0.0.1:9")), "--debug", "-q")
    assert result.exit_code == 0
    assert "--debug" in invoke("schema", "--help").stdout


# -- the router's warning ---------------------------------------------------------------------------------


def test_the_router_warning_names_the_node_once(host, fake_server, write_composition):
    server = fake_server("nonsense")
    composition = {
        "models": {"m": {"type": "external", "url": server.url}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "m", "router": "llm", "output-to": [1]},
            {"name": "billing", "layer": 1, "model": "m"},
            {"name": "tech", "layer": 1, "model": "m"},
            {"name": "output", "adapter": "output"},
        ],
    }
    done = subprocess.run(
        [LLMNET, "run", write_composition(composition), "hi"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0 and done.stdout == "nonsense\n"
    said = 'node "router": the model answered "nonsense", which names no candidate; routing to billing'
    assert done.stderr == f"warning: {said}\n"


# -- --set PATH=VALUE -------------------------------------------------------------------------------------


def test_set_changes_what_the_model_is_sent(host, fake_server, write_composition):
    server = fake_server("fine")
    path = write_composition(chatbot(server.url))
    result = invoke(
        "run",
        path,
        "hi",
        "-o",
        "models.bot.parameters.temperature=0.2",
        "--set",
        'models.bot.model="42"',
        "--set",
        "architecture.chat.context=Be brief.",
    )
    assert result.exit_code == 0, result.stderr
    sent = server.chat_requests[0].json
    assert sent["temperature"] == 0.2 and sent["model"] == "42"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert json.loads(path.read_text(encoding="utf-8")) == chatbot(server.url)  # the file is unchanged


@pytest.mark.parametrize(
    ("override", "place"),
    [
        ("architecture[0].layer=-1", "architecture[0].layer"),
        ("models.bot.model=42", "models.bot.model"),
        ("architecture.chat.output-to=[]", "architecture[0].output-to"),
        ("architecture.chat.if=$WORD_COUNT >> 3", "architecture[0].if"),
    ],
)
def test_a_bad_value_is_reported_at_its_path(host, write_composition, override, place):
    path = write_composition(chatbot("http://127.0.0.1:9"))
    for command in (["run", path, "hi"], ["validate", path]):
        result = invoke(*command, "--set", override)
        assert result.exit_code == 2, (command, result.stderr)
        assert any(
            line.strip().startswith(("error", "error:")) and f"{place}:" in line
            for line in result.stderr.splitlines()
        ), (
            command,
            result.stderr,
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("temperature", "--set 'temperature': not PATH=VALUE"),
        ("models..url=x", "has an empty key"),
        ("models.bot.url.host=x", "--set models.bot.url.host=x: models.bot.url is a string, not an object"),
        ("architecture.chta.if=x", 'architecture has no entry named "chta"'),
        ("architecture[7].if=x", "architecture has 2 entries, so no [7]"),
    ],
)
def test_a_path_that_cannot_be_followed_is_a_usage_error(host, write_composition, override, message):
    result = invoke("validate", write_composition(chatbot("http://127.0.0.1:9")), "-o", override)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # the message and its hint


def test_validate_with_set_checks_the_changed_document(host, write_composition):
    path = write_composition(chatbot("http://127.0.0.1:9"))
    result = invoke("validate", path, "--set", "architecture.chat.if=$TIER == 'gold'", "--json")
    assert result.exit_code == 0, result.stdout
    result = invoke("validate", path, "--set", 'models.bot={"type": "cloud"}', "--json")
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [p["path"] for p in report["problems"] if p["severity"] == "error"] == ["models.bot.type"]


def test_the_helper_for_plugins_commands(host, register_plugin, write_composition):
    from llmnet_core import get_host, load_composition, override_option

    class Nodes:
        @hookimpl
        def llmnet_register_commands(self, cli: Any) -> None:
            @cli.command(name="nodes-test")
            @click.argument("composition")
            @override_option()
            def nodes(composition: str, overrides: tuple[str, ...]) -> None:
                """List the nodes and their models."""
                loaded = load_composition(composition, registries=get_host().registries, overrides=overrides)
                for node in loaded.file.architecture:
                    click.echo(f"{node.name} {node.model}")

    register_plugin(Nodes(), "nodes-plugin")
    get_host().add_commands(cli)
    path = write_composition(chatbot("http://127.0.0.1:9"))
    result = invoke("nodes-test", path, "-o", "architecture.output.model=bot")
    assert result.stdout == "chat bot\noutput bot\n"
    result = invoke("nodes-test", path, "--set", "architecture.chat.model=missing")
    assert result.exit_code == 2 and 'unknown model "missing"' in result.stderr


def test_help_lists_graph_and_stays_a_subprocess_away(tmp_path):
    done = subprocess.run([LLMNET, "--help"], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert done.returncode == 0
    assert "graph" in done.stdout and "--debug" in done.stdout
    env = {**os.environ, "LLMNET_LOAD_PLUGINS": ""}
    done = subprocess.run([LLMNET, "run", "--help"], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert "-o, --set PATH=VALUE" in done.stdout and "--debug" in done.stdout
