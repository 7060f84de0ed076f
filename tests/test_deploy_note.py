"""`deploy` sections outside a deployer: `llmnet run` says once, in a note on stderr, which nodes and models
carry sections it ignores and which command uses them; the answer on stdout is the same as without them."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_testing import PLACED_DEPLOYER, install_plugin

from llmnet_core import Deployer, default_composition_path, deploy_note, hookimpl, load_composition
from llmnet_core.cli import cli
from llmnet_core.plugins import PluginHost, reset_host

LLMNET = str(Path(sys.executable).with_name("llmnet"))
ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 120.0  # seconds: a bound for the command to end, never a measure of speed


class Placed(Deployer):
    """Places nodes on machines; it can serve, so `llmnet serve` would offer it as --placed."""

    @classmethod
    def serve(cls, settings: Any) -> None:
        raise AssertionError("never served in these tests")


class CheckOnly(Deployer):
    """Checks sections, but serves nothing."""


def deployers_plugin(**deployers: type[Deployer]) -> object:
    class Plugin:
        @hookimpl
        def llmnet_register_deployers(self, register: Any) -> None:
            for name, deployer in deployers.items():
                register(name, deployer)

    return Plugin()


@pytest.fixture
def placed(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """The process-wide host with the installed plugins, the `placed` deployer in place of any other."""
    monkeypatch.setenv("LLMNET_BLOCK_PLUGINS", "llmnet-ray")
    monkeypatch.delenv("LLMNET_LOAD_PLUGINS", raising=False)
    fresh = PluginHost()
    fresh.register(deployers_plugin(placed=Placed), "placed-plugin")
    previous = reset_host(fresh)
    try:
        yield fresh
    finally:
        reset_host(previous)


def chatbot(url: str, *, node: dict[str, Any] | None = None, model: dict[str, Any] | None = None) -> dict:
    """A one-node chatbot on the model at `url`, with the `deploy` sections given."""
    bot: dict[str, Any] = {"type": "external", "url": url, "api-key": None, "retries": 0}
    chat: dict[str, Any] = {"name": "chat", "layer": 0, "model": "bot", "output-to": ["output"]}
    if model is not None:
        bot["deploy"] = model
    if node is not None:
        chat["deploy"] = node
    return {"models": {"bot": bot}, "architecture": [chat, {"name": "output", "adapter": "output"}]}


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["run", *args], catch_exceptions=False)
    assert "Traceback" not in result.stderr
    return result


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: ")]


@pytest.mark.parametrize(
    ("sections", "named"),
    [
        ({"node": {"replicas": 2}}, 'node "chat"'),
        ({"model": {"num-cpus": 1}}, 'model "bot"'),
        ({"node": {"replicas": 2}, "model": {"num-cpus": 1}}, 'node "chat" and model "bot"'),
    ],
)
def test_run_notes_the_ignored_sections_once_on_stderr(
    placed, fake_server, write_composition, sections, named
):
    server = fake_server("Paris.")
    path = write_composition(chatbot(server.url, **sections))
    plain = run(str(write_composition(chatbot(server.url))), "Capital of France?")
    result = run(str(path), "Capital of France?")
    assert result.exit_code == 0, result.output
    assert result.stdout == plain.stdout == "Paris.\n"
    assert notes(result.stderr) == [
        f"note: the deploy sections of {named} are ignored: not running on a deployer "
        f"(they take effect with `llmnet serve {path} --placed`)"
    ]
    assert notes(plain.stderr) == [] and plain.stderr == ""


def test_json_output_stays_parseable_with_the_note(placed, fake_server, write_composition):
    path = write_composition(chatbot(fake_server("fine").url, node={"replicas": 2}))
    result = run(str(path), "hi", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["output"] == "fine"
    assert len(notes(result.stderr)) == 1


def in_terminal(args: list[str], env: dict[str, str]) -> str:
    """Everything `args` writes with stdin, stdout and stderr on a new pseudo-terminal."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = b""
    try:
        while chunk := _read(master):
            output += chunk
        assert process.wait(timeout=DEADLINE) == 0, output
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return output.decode("utf-8", "replace")


def _read(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], DEADLINE)
    if not ready:
        raise AssertionError("the command wrote nothing more and did not end")
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: every process holding the terminal has closed it
        return b""


@pytest.fixture
def placed_env(tmp_path: Path) -> dict[str, str]:
    """A person's environment where the `placed` deployer is installed (an entry point on PYTHONPATH)
    instead of any other."""
    site = install_plugin(
        tmp_path / "site",
        "placed-llmnet-test",
        {"placed_llmnet_test": PLACED_DEPLOYER},
        {"placed": "placed_llmnet_test"},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMNET_") and k != "NO_COLOR"}
    env |= {"LLMNET_DATA_DIR": str(tmp_path), "LLMNET_BLOCK_PLUGINS": "llmnet-ray"}
    return env | {"PYTHONPATH": str(site), "TERM": "xterm-256color"}


def test_the_note_is_dim_in_a_terminal_unless_no_color(fake_server, write_composition, placed_env):
    path = write_composition(chatbot(fake_server("fine").url, node={"replicas": 2}))
    coloured = in_terminal([LLMNET, "run", str(path), "hi"], placed_env)
    note = (
        'note: the deploy sections of node "chat" are ignored: not running on a deployer '
        f"(they take effect with `llmnet serve {path} --placed`)"
    )
    assert f"\x1b[2m{note}\x1b[0m\r\n" in coloured and coloured.count("note: ") == 1
    plain = in_terminal([LLMNET, "run", str(path), "hi"], placed_env | {"NO_COLOR": "1"})
    assert "\x1b[" not in plain and f"{note}\r\n" in plain and plain.count("note: ") == 1


def test_many_carriers_are_named_up_to_three(placed, fake_server, write_composition):
    data = chatbot(fake_server("ok").url, model={"replicas": 2})
    data["architecture"][0]["output-to"] = [1]
    data["architecture"][1:1] = [
        {"name": f"h{i}", "layer": 1, "model": "bot", "output-to": ["output"], "deploy": {"num-cpus": i}}
        for i in range(1, 5)
    ]
    composition = load_composition(write_composition(data), registries=placed.registries)
    note = deploy_note(composition, placed.registries)
    assert note is not None
    assert note.startswith('the deploy sections of nodes "h1", "h2", "h3" and 2 more are ignored')


def test_sections_no_deployer_would_use_are_left_to_the_warnings(placed, fake_server, write_composition):
    data = chatbot(fake_server("ok").url)
    data["architecture"][1]["deploy"] = {"replicas": 2}  # the output node calls no model
    data["architecture"].append({"name": "spare", "layer": 1, "model": "bot", "deploy": {"replicas": 2}})
    result = run(str(write_composition(data)), "hi")
    assert result.exit_code == 0
    assert notes(result.stderr) == []
    assert 'ignored: node "output" calls no model' in result.stderr


@pytest.mark.parametrize("deployers", [{}, {"checker": CheckOnly}], ids=["no deployer", "none serves"])
def test_no_note_when_no_command_would_use_the_sections(
    fake_server, write_composition, monkeypatch, deployers
):
    monkeypatch.setenv("LLMNET_BLOCK_PLUGINS", "llmnet-ray")
    host = PluginHost()
    host.register(deployers_plugin(**deployers), "deployers")
    path = write_composition(chatbot(fake_server("ok").url, node={"replicas": 2}))
    assert deploy_note(load_composition(path, registries=host.registries), host.registries) is None


@pytest.mark.parametrize(
    "path", [default_composition_path(), ROOT / "examples" / "support.json"], ids=["default", "support"]
)
def test_the_bundled_compositions_carry_no_note(placed, path):
    assert path.is_file()
    composition = load_composition(path, registries=placed.registries)
    assert deploy_note(composition, placed.registries) is None


def test_a_real_run_with_the_ray_deployer(fake_server, write_composition, tmp_path):
    pytest.importorskip("llmnet_ray.deployer")
    server = fake_server("Paris.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMNET_")}
    env["LLMNET_DATA_DIR"] = str(tmp_path)
    outputs = []
    for sections in ({}, {"node": {"replicas": 2}, "model": {"num-cpus": 1}}):
        path = write_composition(chatbot(server.url, **sections))
        done = subprocess.run(
            [LLMNET, "run", str(path), "Capital of France?"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        outputs.append((done.stdout, notes(done.stderr)))
    assert outputs == [
        ("Paris.\n", []),
        (
            "Paris.\n",
            [
                'note: the deploy sections of node "chat" and model "bot" are ignored: not running on a '
                f"deployer (they take effect with `llmnet serve {path} --ray`)"
            ],
        ),
    ]
