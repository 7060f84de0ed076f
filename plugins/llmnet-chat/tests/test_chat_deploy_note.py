"""`llmnet chat` on a composition with `deploy` sections: one note on stderr, before the first turn, that the
sections are ignored in this process and which command uses them; the answers on stdout are unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import PLACED_DEPLOYER, install_plugin

TURNS = "My name is Ada\nWhat is my name?\n"


@pytest.fixture
def chat_env(chat_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The chat's environment with the `placed` deployer installed instead of any other."""
    site = install_plugin(
        tmp_path / "site",
        "placed-llmnet-test",
        {"placed_llmnet_test": PLACED_DEPLOYER},
        {"placed": "placed_llmnet_test"},
    )
    return chat_env | {"PYTHONPATH": str(site), "LLMNET_BLOCK_PLUGINS": "llmnet-ray"}


def one_node(url: str, **deploy: dict[str, Any]) -> dict[str, Any]:
    """A one-node chatbot on the model at `url`, with a `deploy` section on the node and/or the model."""
    model: dict[str, Any] = {"type": "external", "url": url, "api-key": None, "retries": 0}
    node: dict[str, Any] = {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]}
    if "model" in deploy:
        model["deploy"] = deploy["model"]
    if "node" in deploy:
        node["deploy"] = deploy["node"]
    return {"models": {"m": model}, "architecture": [node, {"name": "output", "adapter": "output"}]}


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: ")]


@pytest.mark.parametrize(
    ("deploy", "named"),
    [({"node": {"replicas": 2}}, 'node "chat"'), ({"model": {"num-cpus": 1}}, 'model "m"')],
    ids=["on a node", "on a model"],
)
def test_piped_chat_notes_the_ignored_sections_once(chat, model, write_composition, deploy, named):
    plain = chat(write_composition(one_node(model.url)), input=TURNS)
    path = write_composition(one_node(model.url, **deploy))
    result = chat(path, input=TURNS)
    assert result.returncode == plain.returncode == 0, result.stderr
    assert result.stdout == plain.stdout
    assert result.stdout.splitlines() == ["Nice to meet you.", "Your name is Ada."]
    assert notes(result.stderr) == [
        f"note: the deploy sections of {named} are ignored: not running on a deployer "
        f"(they take effect with `llmnet serve {path} --placed`)"
    ]
    assert result.stderr.splitlines()[0] == notes(result.stderr)[0]  # before the first turn's route line
    assert notes(plain.stderr) == [] and "deploy" not in plain.stderr
    assert "\x1b" not in result.stderr  # piped: no colour
