"""A corpus of bad compositions, each run through `llmnet validate` and `llmnet run`: both exit 2 with a
message that names the place (a JSON path, or a line and column), never an internal error or a
traceback; and what `run` refuses before calling a model, `validate` refuses with the same path and
message (no model server is ever contacted: every URL that would be reached is refused first)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmnet_core.cli import cli

LLMNET = str(Path(sys.executable).with_name("llmnet"))


def chatbot(**model: Any) -> dict[str, Any]:
    """A valid one-node composition whose model entry is `model` (a refused address by default)."""
    return {
        "models": {"m": model or {"type": "external", "url": "http://127.0.0.1:9"}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def changed(change: Callable[[dict[str, Any]], Any], **model: Any) -> dict[str, Any]:
    data = copy.deepcopy(chatbot(**model))
    change(data)
    return data


def node(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["architecture"][0].update(fields)


def shell(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["functions"] = {"f": {"type": "shell", "command": "cat", **fields}}
        data["architecture"][0]["hooks"] = {"pre": [{"function": "f"}]}

    return change


def ws_peer_without_url(data: dict[str, Any]) -> None:
    data["architecture"][0]["output-to"] = ["peer"]
    data["architecture"].insert(1, {"name": "peer", "adapter": "ws", "layer": 1, "output-to": ["output"]})


# -- the corpus: (id, the file's text or data, a text the one error message must hold) ------------------

SYNTAX: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "line 1, column 1: the file is empty"),
    ("only-comments", "// nothing\n/* here */\n", "the file is empty"),
    ("missing-comma", '{"models": {}\n "architecture": []}', "line 2, column 2"),
    ("unterminated-string", '{"models": {"m": "abc}}', "line 1, column 18: unterminated string"),
    ("unterminated-comment", '{"models": {}} /* no end', "line 1, column 16: unterminated /* comment"),
    ("text-after-the-end", '{"architecture": []} and more', "line 1, column 22"),
    ("top-level-array", "[]", "the top level must be a JSON object"),
    ("top-level-string", '"models"', "the top level must be a JSON object"),
    ("binary", b"\x00\xff\xfe\x00llmnet", "cannot be read"),
    ("latin-1", '{"name": "caf\xe9"}'.encode("latin-1"), "cannot be read"),
    ("nested-arrays", "[" * 100_000 + "]" * 100_000, "line 1, column 101: nested more than 100 levels"),
    (
        "nested-objects",
        '{"architecture": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}",
        "line 1, column 612: nested more than 100 levels deep",
    ),
    (
        "huge-integer",
        '{\n  "settings": {"max-hops": ' + "9" * 5000 + '},\n  "architecture": []\n}',
        "line 2, column 28: a number of 5000 digits",
    ),
    ("raw-control-character", '{"name": "a\tb", "architecture": []}', "line 1, column 12"),
]

STRUCTURE: list[tuple[str, dict[str, Any], str]] = [
    ("no-architecture", {"models": {}}, "architecture: missing"),
    ("architecture-not-a-list", {"architecture": "chat"}, "architecture: must be a list of nodes"),
    ("models-not-an-object", changed(lambda d: d.update(models=["m"])), "models: must be an object"),
    ("node-not-an-object", changed(lambda d: d["architecture"].insert(0, "chat")), "architecture[0]: must"),
    ("node-without-name", changed(lambda d: d["architecture"][0].pop("name")), "architecture[0].name:"),
    ("blank-node-name", changed(node(name="  ")), "architecture[0].name: a node name cannot be empty"),
    ("layer-as-text", changed(node(layer="zero")), "architecture[0].layer:"),
    ("huge-layer-as-float", changed(node(layer=1e300)), "architecture[0].layer:"),
    ("output-to-true", changed(node(**{"output-to": [True]})), "architecture[0].output-to:"),
    ("output-to-mixed", changed(node(**{"output-to": [1, "output"]})), "architecture[0].output-to: mixes"),
    ("output-to-empty", changed(node(**{"output-to": []})), "architecture[0].output-to: is empty"),
    ("output-to-unknown", changed(node(**{"output-to": ["outptu"]})), "architecture[0].output-to[0]:"),
    (
        "duplicate-node",
        changed(lambda d: d["architecture"].insert(1, {"name": "chat", "layer": 1, "model": "m"})),
        "architecture[1].name: duplicate node name",
    ),
    (
        "two-entries",
        changed(lambda d: d["architecture"].insert(1, {"name": "second", "layer": 0, "model": "m"})),
        "architecture[1].layer: a second layer-0 node",
    ),
    ("no-output-node", changed(lambda d: d["architecture"].pop()), "architecture: no output node"),
    ("no-entry", changed(lambda d: d["architecture"][0].update(layer=1)), "architecture: no entry node"),
    ("unknown-adapter", changed(node(adapter="openai")), "architecture[0].adapter: unknown adapter"),
    ("unknown-model", changed(node(model="mm")), 'architecture[0].model: unknown model "mm"'),
    ("model-not-an-object", changed(lambda d: d["models"].update(m="gpt")), "models.m: must be an object"),
    ("model-type", chatbot(type="internal", url="http://127.0.0.1:9"), "models.m.type:"),
    ("unknown-runner", chatbot(runner="dockr"), 'models.m.runner: unknown runner "dockr"'),
    ("unreachable-model", chatbot(runner="external", interface="openai-api"), "models.m.url: is missing"),
    ("no-way-to-the-model", chatbot(model="x"), "models.m: cannot tell how to reach this model"),
    ("max-hops-zero", changed(lambda d: d.update(settings={"max-hops": 0})), "settings.max-hops:"),
    ("settings-typo", changed(lambda d: d.update(settings={"max-hop": 3})), "settings.max-hop:"),
    (
        "bad-condition",
        changed(lambda d: d["architecture"][1].update(**{"if": "$A =="})),
        "architecture[1].if:",
    ),
    ("unknown-condition-function", changed(node(**{"if": "nope($INPUT)"})), "architecture[0].if:"),
    (
        "unknown-router",
        changed(node(router="best")),
        'architecture[0].router: unknown routing strategy "best"',
    ),
    ("unknown-hook-function", changed(node(hooks={"pre": [{"function": "f"}]})), ".hooks.pre[0].function:"),
    ("hook-mode", changed(node(hooks={"pre": [{"function": "f", "mode": "x"}]})), ".hooks.pre[0].mode:"),
    ("hooks-typo", changed(node(hooks={"pree": []})), "architecture[0].hooks.pree:"),
    (
        "undefined-secret-block",
        chatbot(type="external", url="http://127.0.0.1:9", **{"api-key": "$secrets.main.KEY"}),
        'models.m.api-key: refers to secret block "main"',
    ),
    ("secret-source", changed(lambda d: d.update(secrets={"s": {"source": "nope"}})), "secrets.s.source:"),
    ("function-timeout", changed(shell(timeout=0)), "functions.f.timeout:"),
    ("function-type", changed(shell(type="smoke-signal")), "functions.f.type:"),
    ("shell-command-variable", changed(shell(command="$INPUT")), "functions.f.command:"),
    (
        "ws-node-without-url",
        changed(ws_peer_without_url),
        "architecture[1].url: a ws node needs the url of its peer",
    ),
    ("surrogate-node-name", changed(node(name="\ud800")), "a \\u escape that is half of a surrogate pair"),
    (
        "surrogate-key",
        changed(lambda d: d["models"]["m"].update({"\udfff": 1})),
        "a \\u escape that is half of a surrogate pair",
    ),
    (
        "timeout-as-text",
        chatbot(type="external", url="http://127.0.0.1:9", timeout="soon"),
        "models.m.timeout:",
    ),
    (
        "header-with-line-break",
        chatbot(type="external", url="http://127.0.0.1:9", headers={"X-A": "a\r\nB: c"}),
        "models.m.headers.X-A:",
    ),
]

#: what a run refused only when it first used the model: now refused by validate, at the same place
FIRST_USE: list[tuple[str, dict[str, Any], str]] = [
    *[
        (f"{runner}-url-{label}", chatbot(runner=runner, url=url), f"models.m.url: {url!r}")
        for runner in ("external", "ollama")
        for label, url in [
            ("file", "file:///etc/passwd"),
            ("ftp", "ftp://x/v1"),
            ("no-host", "http://"),
            ("open-ipv6", "http://[::1"),
            ("port", "http://127.0.0.1:99999"),
            ("space-in-host", "http://exa mple.com/v1"),
        ]
    ],
    (
        "url-typo",
        chatbot(type="external", ulr="http://127.0.0.1:9"),
        'models.m.url: is missing (the entry has "ulr"',
    ),
    ("docker-runner", chatbot(runner="docker", url="http://127.0.0.1:9"), 'models.m.runner: runner "docker"'),
    (
        "api-key-line-break",
        chatbot(type="external", url="http://127.0.0.1:9", **{"api-key": "sk-1\nX: y"}),
        "models.m.api-key: contains characters that cannot be sent in an HTTP header",
    ),
    (
        "ollama-keep-alive",
        chatbot(runner="ollama", url="http://127.0.0.1:9", **{"keep-alive": "soon"}),
        'models.m.keep-alive: is not a duration: "soon"',
    ),
    (
        "ollama-parameter",
        chatbot(runner="ollama", url="http://127.0.0.1:9", parameters={"top_k": "many"}),
        'models.m.parameters.top_k: must be a whole number, got "many"',
    ),
]

CASES = [
    *[pytest.param(text, place, id=name) for name, text, place in SYNTAX],
    *[pytest.param(data, place, id=name) for name, data, place in STRUCTURE + FIRST_USE],
]


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    for output in (result.stdout, result.stderr):
        assert "Traceback" not in output and "internal error" not in output, output
    return result


def write(tmp_path: Path, content: str | bytes | dict[str, Any]) -> Path:
    path = tmp_path / "composition.json"
    if isinstance(content, dict):
        path.write_text(json.dumps(content), encoding="utf-8")  # ensure_ascii: "\ud800" stays an escape
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def errors(report: dict[str, Any]) -> list[str]:
    """The errors of a `validate --json` report as printed: `PATH: MESSAGE` (the message alone about the
    whole file, where it names the top level itself)."""
    found = [p for p in report["problems"] if p["severity"] == "error"]
    assert all(p["path"] or p["message"].startswith("the top level") for p in found), found
    return [f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in found]


@pytest.mark.parametrize(("content", "place"), CASES)
def test_validate_and_run_refuse_a_bad_composition_at_its_place(host, tmp_path, content, place):
    path = write(tmp_path, content)
    checked = invoke("validate", str(path))
    assert checked.exit_code == 2, checked.output
    assert place in checked.stderr
    run = invoke("run", str(path), "hello")
    assert run.exit_code == 2, run.output
    assert place in run.stderr
    report = invoke("validate", "--json", str(path))
    if report.stdout.startswith("{"):  # a file that parses: every error has a place, the same in both
        found = errors(json.loads(report.stdout))
        assert found
        for line in found:
            assert line in run.stderr


def test_a_folder_and_an_unreadable_file_are_refused_by_name(host, tmp_path):
    folder = tmp_path / "folder.json"
    folder.mkdir()
    run = invoke("run", str(folder), "hello")
    assert run.exit_code == 2 and f"{folder}: is a folder" in run.stderr
    assert invoke("validate", str(folder)).exit_code == 2
    if os.geteuid() != 0:  # root reads every file
        locked = write(tmp_path, chatbot())
        locked.chmod(0)
        for command in (("validate", str(locked)), ("run", str(locked), "hello")):
            result = invoke(*command)
            assert result.exit_code == 2 and "cannot be read" in result.stderr


def test_a_duplicate_key_warning_names_its_place(host, tmp_path):
    text = json.dumps(chatbot()).replace('"layer": 0,', '"layer": 0, "layer": 0,', 1)
    result = invoke("validate", str(write(tmp_path, text)))
    assert result.exit_code == 0
    assert "warning architecture[0].layer: appears twice in one object" in result.stdout


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(json.dumps(changed(node(name="\ud800"))), id="surrogate"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested"),
        pytest.param('{"architecture": [' + "1" * 5000 + "]}", id="huge-integer"),
    ],
)
def test_the_real_command_names_the_place_on_its_real_output(tmp_path, content):
    path = write(tmp_path, content)
    for command in (["validate", str(path)], ["run", str(path), "hello"]):
        done = subprocess.run([LLMNET, *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "line 1, column " in done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr


@pytest.fixture
def openai_plugin_broken(tmp_path: Path) -> dict[str, str]:
    """A distribution named llmnet-openai first on PYTHONPATH, whose entry point fails to import."""
    (tmp_path / "broken_openai.py").write_text("import numpyy\n")
    info = tmp_path / "llmnet_openai-9.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmnet-openai\nVersion: 9.0\n")
    (info / "entry_points.txt").write_text("[llmnet]\nopenai = broken_openai\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def test_a_missing_backend_names_the_plugin_that_failed_to_load(tmp_path, openai_plugin_broken):
    path = write(tmp_path, chatbot())
    for command in (["validate", str(path)], ["run", str(path), "hello"]):
        done = subprocess.run(
            [LLMNET, *command], capture_output=True, text=True, timeout=60, env=openai_plugin_broken
        )
        assert done.returncode == 2, done.stderr
        assert 'no installed plugin provides the backend "openai-api"' in done.stderr
        assert "llmnet-openai is installed but failed to load: ModuleNotFoundError" in done.stderr
