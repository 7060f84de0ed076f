"""`llmnet serve` without a deployer's flag, on a composition with `deploy` sections: one note at start (not
one per worker) that they are ignored and which flag uses them; none for a composition without them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmnet_testing import PLACED_DEPLOYER, install_plugin


@pytest.fixture
def placed_env(tmp_path: Path) -> dict[str, str]:
    """The server's environment with the `placed` deployer installed instead of any other."""
    site = install_plugin(
        tmp_path / "site",
        "placed-llmnet-test",
        {"placed_llmnet_test": PLACED_DEPLOYER},
        {"placed": "placed_llmnet_test"},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMNET_")}
    return env | {"PYTHONPATH": str(site), "LLMNET_BLOCK_PLUGINS": "llmnet-ray"}


def chatbot(url: str, **deploy: dict[str, Any]) -> dict[str, Any]:
    """A one-node chatbot on the model at `url`, with a `deploy` section on the node and/or the model."""
    model: dict[str, Any] = {"type": "external", "url": url, "api-key": None}
    node: dict[str, Any] = {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]}
    for part, where in ((model, "model"), (node, "node")):
        if where in deploy:
            part["deploy"] = deploy[where]
    return {"models": {"m": model}, "architecture": [node, {"name": "output", "adapter": "output"}]}


def notes(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("note: ")]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_notes_the_ignored_sections_once(
    fake_server, write_composition, start_serve, placed_env, workers
):
    model = fake_server("fine")
    path = write_composition(chatbot(model.url, node={"replicas": 2}, model={"num-cpus": 1}))
    server = start_serve(path, "--workers", workers, env=placed_env)
    # answered requests: the workers are up, each having loaded the pipeline (quietly) when it started
    for _ in range(3):
        reply = httpx.post(
            f"{server.url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert reply.status_code == 200, reply.text
    assert server.stop() == 0
    assert notes(server.output) == [
        'note: the deploy sections of node "chat" and model "m" are ignored: not running on a deployer '
        f"(they take effect with `llmnet serve {path} --placed`)"
    ]
    assert server.output.index("note: ") < server.output.index("llmnet serve: http://")


def test_serve_says_nothing_without_sections(fake_server, write_composition, start_serve, placed_env):
    server = start_serve(write_composition(chatbot(fake_server("fine").url)), env=placed_env)
    assert server.stop() == 0
    assert notes(server.output) == [] and "deploy" not in server.output
