"""A node that chooses among several targets and names no strategy gets one by what its model can do:
similarity with the bundled sentence encoder on an in-process small model, `llm` on any other."""

from __future__ import annotations

from typing import Any

import pytest

from llmnet_core import Pipeline
from llmnet_core.composition import load_composition
from llmnet_core.plugins import PluginHost

ENCODER = "llmnet:routing-encoder"


def composition(model: dict[str, Any], *, router: str | None = None, handlers: int = 2) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "entry", "layer": 0, "model": "m", "output-to": [1]}
    if router:
        entry["router"] = router
    topics = ["billing: invoices, refunds and payments", "cooking: recipes and kitchen tips"]
    nodes = [
        {"name": f"h{i}", "layer": 1, "model": "m", "use-case": topics[i % 2], "output-to": [2]}
        for i in range(handlers)
    ]
    return {
        "models": {"m": model},
        "architecture": [entry, *nodes, {"name": "out", "adapter": "output", "layer": 2}],
    }


LOCAL = {"type": "external", "runner": "llama-cpp"}
SERVER = {"type": "external", "interface": "openai-api", "url": "http://127.0.0.1:9/v1", "model": "x"}


def load(data: dict[str, Any], environ: dict[str, str] | None = None):
    host = PluginHost(environ=environ or {})
    return load_composition(data, registries=host.registries)


def test_a_node_on_the_embedded_model_routes_by_similarity_with_the_bundled_encoder():
    loaded = load(composition(LOCAL))
    entry = loaded.nodes["entry"]
    assert entry.router == "semantic"
    assert entry.router_options["embedding-model"] == ENCODER
    assert entry.router_options["sticky"] > 0
    assert loaded.file.models[ENCODER].runner == "sentence-encoder"


def test_options_the_node_writes_are_kept_over_the_automatic_ones():
    data = composition(LOCAL)
    data["architecture"][0]["router-options"] = {"sticky": 0.3}
    entry = load(data).nodes["entry"]
    assert entry.router == "semantic" and entry.router_options["sticky"] == 0.3


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (composition(SERVER), "a model on a server keeps llm"),
        (composition(LOCAL, router="llm"), "a strategy the node names"),
        (composition(LOCAL, handlers=1), "a node with one target never routes"),
        ({**composition(LOCAL), "settings": {"router": "constrained"}}, "a strategy settings.router names"),
    ],
)
def test_what_the_file_says_or_a_model_elsewhere_is_left_alone(data: dict[str, Any], why: str):
    loaded = load(data)
    entry = loaded.nodes["entry"]
    assert entry.router == data["architecture"][0].get("router"), why
    assert "router-options" not in data["architecture"][0] and entry.router_options == {}, why
    assert ENCODER not in loaded.file.models, why


def test_without_the_encoder_plugin_every_node_keeps_llm():
    loaded = load(composition(LOCAL), {"LLMNET_BLOCK_PLUGINS": "llmnet-encoder"})
    assert loaded.nodes["entry"].router is None
    assert ENCODER not in loaded.file.models


async def test_the_automatic_strategy_routes_a_request_and_says_so_in_the_trace():
    async with Pipeline.from_dict(composition(LOCAL)) as pipeline:
        result = await pipeline.run("I was charged twice, can I get a refund?", route_only=True)
        cooking = await pipeline.run("How long do I boil an egg for a runny yolk?", route_only=True)
    assert result.trace.path[1] == "h0" and cooking.trace.path[1] == "h1"
    chosen = result.trace.hops[1]
    assert chosen.chosen_by.startswith("semantic router")
    assert chosen.decision is not None and set(chosen.decision["scores"]) == {"h0", "h1"}
