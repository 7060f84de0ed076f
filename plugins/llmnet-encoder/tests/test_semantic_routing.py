"""A `semantic` router whose `embedding-model` is a sentence-encoder model: whole pipelines, and how a
composition with a bad encoder source is reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import FakeOpenAIServer

from llmnet_core import CompositionError, Pipeline
from llmnet_core.composition import validate_composition

HANDLERS = {
    "weather": ("weather forecasts: rain, snow, wind and temperatures", ["Will it rain in Paris tomorrow?"]),
    "cooking": ("recipes, cooking and baking food in the kitchen", ["How long do I boil an egg?"]),
    "code": ("programming: writing and debugging code", ["Why does my Python script raise KeyError?"]),
}
REQUESTS = {
    "Is it going to snow this weekend in Oslo?": "weather",
    "What temperature should the oven be for roasting a chicken?": "cooking",
    "How do I make pancakes?": "cooking",
    "My JavaScript function returns undefined, what is wrong?": "code",
    "How windy will it be on the coast on Monday?": "weather",
    "How do I reverse a list in Python?": "code",
}


def routed(handler_model: str | None, **encoder: Any) -> dict[str, Any]:
    """A semantic router embedding with model `enc` (a sentence encoder) in front of three handlers."""
    models: dict[str, Any] = {"enc": {"type": "external", "runner": "sentence-encoder", **encoder}}
    if handler_model is not None:
        models["chat"] = {"type": "external", "url": handler_model}
    nodes: list[dict[str, Any]] = [
        {
            "name": "router",
            "layer": 0,
            "router": "semantic",
            "router-options": {"embedding-model": "enc"},
            "output-to": [1],
        }
    ]
    for name, (use_case, examples) in HANDLERS.items():
        node = {"name": name, "layer": 1, "use-case": use_case, "examples": examples, "output-to": [2]}
        if handler_model is not None:
            node["model"] = "chat"
        nodes.append(node)
    nodes.append({"name": "out", "adapter": "output", "layer": 2})
    return {"models": models, "architecture": nodes}


async def test_requests_are_routed_by_the_encoder_and_answered(fake_server: Callable[..., FakeOpenAIServer]):
    server = fake_server(lambda body: f"answered: {body['messages'][-1]['content']}")
    async with Pipeline.from_dict(routed(server.url)) as pipeline:
        for text, expected in REQUESTS.items():
            result = await pipeline.run(text)
            handler = result.trace.hops[1]  # a hop records the decision that led to it
            assert handler.node == expected, f"{text!r} went to {handler.node}: {handler.decision}"
            assert handler.decision["strategy"] == "semantic"
            assert set(handler.decision["scores"]) == set(HANDLERS)
            assert result.output == f"answered: {text}"
            assert result.trace.path == ["router", expected, "out"]


async def test_route_only_decides_without_any_answering_model():
    async with Pipeline.from_dict(routed(None)) as pipeline:
        for text, expected in REQUESTS.items():
            result = await pipeline.run(text, route_only=True)
            assert result.trace.hops[1].node == expected
            assert result.trace.hops[1].decision["ms"] > 0


def test_validation_reports_a_bad_encoder_source_at_its_path(tmp_path: Path, host):
    _, problems = validate_composition(
        routed(None, source="models/no-such-encoder"), base_dir=tmp_path, registries=host.registries
    )
    found = [p for p in problems if p.path == "models.enc.source"]
    assert len(found) == 1, problems
    assert f"{tmp_path / 'models' / 'no-such-encoder'} does not exist" in found[0].message
    assert "tokenizer.json" in (found[0].hint or "")
    assert found[0].severity == "error"  # the router embeds with it: a model in use
    _, problems = validate_composition(
        routed(None, parameters={"n_thread": 2}), base_dir=tmp_path, registries=host.registries
    )
    assert [p.message for p in problems if p.path == "models.enc.parameters.n_thread"] == [
        'unknown field (did you mean "n-threads"?)'
    ]


async def test_a_bad_encoder_source_is_refused_with_its_path_before_running(tmp_path: Path):
    """The router's embedding model is a model in use: its problems stop the pipeline from loading."""
    data = routed(None, source=str(tmp_path / "missing"))
    with pytest.raises(CompositionError, match=r"models\.enc\.source: .*missing does not exist"):
        Pipeline.from_dict(data)
