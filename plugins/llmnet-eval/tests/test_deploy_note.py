"""`llmnet eval` and `llmnet tune` on a composition with `deploy` sections: they run the pipeline in this
process, so each says once, in a note on stderr, that the sections are ignored; stdout is unchanged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmnet_core import Backend, ChatRequest, ChatResponse, Deployer, hookimpl


class Placed(Deployer):
    """A deployer that `llmnet serve` would offer as --placed."""

    @classmethod
    def serve(cls, settings: Any) -> None:
        raise AssertionError("never served in these tests")


class Letters(Backend):
    """Embeds a text as the counts of its letters (exact, and enough to tell the tests' requests apart)."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="ok")

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        return [[float(text.lower().count(c)) for c in "abcdefghijklmnopqrstuvwxyz"] for text in texts]


class Plugin:
    @hookimpl
    def llmnet_register_deployers(self, register: Any) -> None:
        register("placed", Placed)

    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("letters", Letters)


@pytest.fixture(autouse=True)
def placed(monkeypatch: pytest.MonkeyPatch, host: Any, register_plugin: Any) -> None:
    """The `placed` deployer in place of any installed one (set before the host loads its plugins)."""
    monkeypatch.setenv("LLMNET_BLOCK_PLUGINS", "llmnet-ray")
    register_plugin(Plugin(), "placed-plugin")


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: ")]


def expected(path: Path, named: str) -> list[str]:
    return [
        f"note: the deploy sections of {named} are ignored: not running on a deployer "
        f"(they take effect with `llmnet serve {path} --placed`)"
    ]


def test_eval_notes_the_sections_once_and_keeps_its_json(kit, fake_server, write_composition, write_jsonl):
    router = fake_server(kit.answers(kit.ROUTER_ANSWERS))
    data = kit.one_layer(router, fake_server("ok"))
    plain = write_composition(data)
    data["architecture"][0]["deploy"] = {"replicas": 2}
    path = write_composition(data)
    labelled = write_jsonl(kit.LABELLED)
    before = kit.invoke("eval", plain, labelled, "--format", "json")
    after = kit.invoke("eval", path, labelled, "--format", "json")
    assert before.exit_code == after.exit_code == 0, after.stderr
    assert notes(after.stderr) == expected(path, 'node "router"') and notes(before.stderr) == []
    first, second = json.loads(before.stdout), json.loads(after.stdout)
    same = ("requests", "routing", "warnings")
    assert [first[k] for k in same] == [second[k] for k in same]
    assert [(r["correct"], r["accuracy"]) for r in second["runs"]] == [(4, 4 / 6)]
    assert [(r["correct"], r["accuracy"]) for r in first["runs"]] == [(4, 4 / 6)]


def test_tune_notes_the_sections_once(kit, write_composition, write_jsonl):
    data = {
        "models": {"m": {"backend": "letters", "deploy": {"num-cpus": 1}}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "m", "router": "semantic", "output-to": [1]},
            {"name": "billing", "layer": 1, "model": "m", "use-case": "invoices", "output-to": ["output"]},
            {"name": "shipping", "layer": 1, "model": "m", "use-case": "parcels", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = write_composition(data)
    rows = [{"text": t, "label": "billing"} for t in ("invoice", "bill", "refund", "payment")]
    rows += [{"text": t, "label": "shipping"} for t in ("parcel", "courier", "tracking", "box")]
    result = kit.invoke("tune", path, write_jsonl(rows), "--folds", "2")
    assert result.exit_code == 0, result.stderr
    assert notes(result.stderr) == expected(path, 'model "m"')
    assert "note: " not in result.stdout
