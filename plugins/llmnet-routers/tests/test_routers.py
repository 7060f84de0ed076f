"""The semantic and constrained routers through real pipelines, on an in-process backend whose embeddings
are word counts and whose choice scores favour a name the request mentions: what the routers do with
vectors and scores is under test here; the llama-cpp plugin tests them on the real model."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import pytest

from llmnet_core import (
    Backend,
    ChatRequest,
    ChatResponse,
    CompositionError,
    Message,
    Pipeline,
    RoutingError,
    hookimpl,
)

DIM = 64


class Words(Backend):
    """Embeds a text as hashed word counts; scores a choice 0 when the request names it, else -5."""

    embedded: list[tuple[str, str, bool]] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text=f"{self.spec.name} answered")

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        vectors = []
        for text in texts:
            Words.embedded.append((self.spec.name, text, persist))
            vector = [0.0] * DIM
            for word in re.findall(r"[a-z]+", text.lower()):
                vector[zlib.crc32(word.encode()) % DIM] += 1.0
            vectors.append(vector)
        return vectors

    async def score_choices(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        text = messages[-1].content.lower()
        return {c: (0.0 if c in text else -5.0) for c in choices}


class NoCapabilities(Backend):
    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="plain")


class Plugin:
    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("words", Words)
        register("plain", NoCapabilities)


@pytest.fixture(autouse=True)
def plugin(register_plugin):
    register_plugin(Plugin(), "words-plugin")
    Words.embedded = []


def composition(strategy: str, options: dict | None = None, backend: str = "words") -> dict:
    router: dict[str, Any] = {
        "name": "router",
        "layer": 0,
        "model": "m",
        "router": strategy,
        "output-to": [1],
    }
    if options is not None:
        router["router-options"] = options
    return {
        "models": {"m": {"backend": backend}, "embedder": {"backend": "words"}},
        "architecture": [
            router,
            {
                "name": "billing",
                "layer": 1,
                "model": "m",
                "use-case": "invoices payments refunds charges",
                "examples": ["I was charged twice on my card", "where is my refund"],
                "output-to": [2],
            },
            {
                "name": "shipping",
                "layer": 1,
                "model": "m",
                "use-case": "parcels delivery tracking couriers",
                "examples": ["my parcel has not arrived", "track my delivery"],
                "output-to": [2],
            },
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }


async def route(data: dict, text: str) -> Any:
    async with Pipeline.from_dict(data) as pipeline:
        return (await pipeline.run(text)).trace.hops[1]


async def test_semantic_picks_the_most_similar_handler_and_explains_it():
    hop = await route(composition("semantic"), "my card was charged twice, I want a refund")
    assert hop.node == "billing"
    assert hop.decision["strategy"] == "semantic"
    assert hop.decision["scores"]["billing"] > hop.decision["scores"]["shipping"]
    assert "most similar" in hop.decision["reason"]
    hop = await route(composition("semantic"), "the courier lost my parcel")
    assert hop.node == "shipping"


async def test_semantic_embeds_the_handlers_once_then_only_the_request():
    async with Pipeline.from_dict(composition("semantic")) as pipeline:
        await pipeline.run("track my parcel please")
        first = len(Words.embedded)
        await pipeline.run("refund my invoice")
    assert first == 1 + 2 * 3  # the request, then use-case + two examples per handler
    assert len(Words.embedded) == first + 1
    # only the handlers' descriptions may be kept on disk by the backend, never a request
    persisted = {text for _, text, persist in Words.embedded if persist}
    assert "track my parcel please" not in persisted and "refund my invoice" not in persisted
    assert "my parcel has not arrived" in persisted


async def test_semantic_can_embed_with_another_model():
    hop = await route(composition("semantic", {"embedding-model": "embedder"}), "where is my refund")
    assert hop.node == "billing"
    assert {model for model, _, _ in Words.embedded} == {"embedder"}


async def test_semantic_falls_back_below_min_score():
    options = {"min-score": 0.99, "fallback": "shipping"}
    hop = await route(composition("semantic", options), "refund for the invoice")
    assert hop.node == "shipping" and "below min-score 0.99" in hop.decision["reason"]
    assert "(billing)" in hop.decision["reason"]  # the best candidate, which was not similar enough


async def test_semantic_below_min_score_without_fallback_fails_the_request():
    with pytest.raises(RoutingError) as caught:
        await route(composition("semantic", {"min-score": 0.99}), "refund for the invoice")
    error = caught.value
    assert error.message.startswith('node "router": no candidate is similar enough to route to: ')
    assert "(billing) is below min-score 0.99" in error.message
    assert "router-options.fallback" in (error.hint or "")
    assert [hop.node for hop in error.trace.hops] == ["router"]  # no handler ran
    # a request that reaches min-score is routed as usual
    hop = await route(composition("semantic", {"min-score": -1}), "refund for the invoice")
    assert hop.node == "billing" and "most similar" in hop.decision["reason"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"agregate": "max"}, "architecture[0].router-options.agregate"),
        ({"aggregate": "best"}, "architecture[0].router-options.aggregate"),
        ({"template": "no placeholder"}, "architecture[0].router-options.template"),
    ],
)
async def test_bad_router_options_stop_the_pipeline_before_it_runs(options: dict, expected: str):
    with pytest.raises(CompositionError) as caught:
        await route(composition("semantic", options), "refund")
    assert [p.path for p in caught.value.problems] == [expected]


async def test_a_fallback_that_is_not_a_target_is_named_when_routing():
    with pytest.raises(RoutingError) as caught:
        await route(composition("semantic", {"fallback": "nowhere"}), "refund")
    message = caught.value.message
    assert 'node "router"' in message and 'router-options.fallback "nowhere" is not a target' in message


async def test_semantic_on_a_backend_without_embeddings_says_what_to_do():
    with pytest.raises(Exception) as caught:
        await route(composition("semantic", backend="plain"), "refund")
    assert "cannot compute embeddings" in str(caught.value)
    assert "embedding-model" in (caught.value.hint or "")


async def test_constrained_takes_the_likeliest_name_and_reports_probabilities():
    hop = await route(composition("constrained"), "this is about shipping, not billing? no: shipping")
    assert hop.node in {"billing", "shipping"}
    scores = hop.decision["scores"]
    assert set(scores) == {"billing", "shipping"} and abs(sum(scores.values()) - 1) < 0.01
    hop = await route(composition("constrained"), "a question for shipping")
    assert hop.node == "shipping" and hop.decision["answer"] == "shipping"


async def test_constrained_on_a_backend_that_cannot_score_says_what_to_do():
    with pytest.raises(Exception) as caught:
        await route(composition("constrained", backend="plain"), "refund")
    assert "cannot score a fixed set of answers" in str(caught.value)
    assert 'node "router"' in str(caught.value)


async def test_constrained_shows_examples_to_the_model_when_asked(register_plugin):
    seen: list[Sequence[Message]] = []

    class Recording(Words):
        async def score_choices(self, messages, choices):
            seen.append(messages)
            return await super().score_choices(messages, choices)

    class More:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            register("recording", Recording)

    register_plugin(More(), "recording-plugin")
    await route(composition("constrained", {"shots": 1}, backend="recording"), "shipping")
    roles = [m.role for m in seen[0]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert seen[0][2].content == "billing" and seen[0][1].content == "I was charged twice on my card"


def conversation(*turns: str) -> list[dict[str, str]]:
    roles = ["user", "assistant"] * len(turns)
    return [{"role": role, "content": text} for role, text in zip(roles, turns, strict=False)]


@pytest.mark.parametrize(
    ("follow_up", "sticky", "expected"),
    [
        ("and what about my parcel", None, "shipping"),  # no sticky: the last message alone decides
        ("and what about my parcel", 2.0, "billing"),  # a weak lead keeps the conversation's handler
        ("track my parcel delivery with the courier", 0.3, "shipping"),  # a clear switch moves on
    ],
)
async def test_semantic_sticky_keeps_a_follow_up_with_the_conversations_handler(follow_up, sticky, expected):
    options = {} if sticky is None else {"sticky": sticky}
    messages = conversation("I was charged twice, refund my invoice", "Refund issued.", follow_up)
    async with Pipeline.from_dict(composition("semantic", options)) as pipeline:
        hop = (await pipeline.run(messages)).trace.hops[1]
    assert hop.node == expected
    if sticky is not None and expected == "billing":
        assert hop.decision["reason"].startswith("sticky: the conversation was with billing; shipping leads")
    else:
        assert "most similar" in hop.decision["reason"]


async def test_semantic_sticky_is_off_for_a_single_message():
    hop = await route(composition("semantic", {"sticky": 5.0}), "track my parcel")
    assert hop.node == "shipping" and "most similar" in hop.decision["reason"]


class CheckedWords(Words):
    """Words with an option its check insists on, and a record of the models prepared at start."""

    prepared: list[str] = []

    @classmethod
    def check(cls, spec: Any) -> list[Any]:
        from llmnet_core import Problem

        ok = spec.options.get("size") == 1
        return [] if ok else [Problem(f"models.{spec.name}.size", "must be 1")]

    async def prepare(self) -> None:
        CheckedWords.prepared.append(self.spec.name)


def with_embedder(embedder: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    data = composition("semantic", options)
    data["models"]["embedder"] = embedder
    return data


def problems_of(data: dict[str, Any], registries: Any) -> list[Any]:
    from llmnet_core.composition import validate_composition

    return validate_composition(data, registries=registries)[1]


async def test_the_embedding_model_is_a_model_in_use(host, register_plugin):
    class More:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            register("checked-words", CheckedWords)

    register_plugin(More(), "checked-words-plugin")
    CheckedWords.prepared = []
    # a bad option of a model only the router embeds with is an error, as for any model in use
    bad = with_embedder({"backend": "checked-words", "size": 2}, {"embedding-model": "embedder"})
    found = problems_of(bad, host.registries)
    assert [(p.path, p.severity) for p in found] == [("models.embedder.size", "error")]
    # a model that does not exist is named at the router's options
    missing = composition("semantic", {"embedding-model": "embeder"})
    (problem,) = problems_of(missing, host.registries)
    assert problem.path == "architecture[0].router-options" and 'names model "embeder"' in problem.message
    assert problem.hint == 'did you mean "embedder"?'
    # an entry that only routes needs no model of its own; the embedding model loads at start
    good = with_embedder({"backend": "checked-words", "size": 1}, {"embedding-model": "embedder"})
    del good["architecture"][0]["model"]
    assert problems_of(good, host.registries) == []
    async with Pipeline.from_dict(good) as pipeline:
        assert CheckedWords.prepared == ["embedder"]
        hop = (await pipeline.run("where is my refund")).trace.hops[1]
    assert hop.node == "billing"


@pytest.mark.parametrize(
    ("strategy", "options", "expected"),
    [
        ("semantic", {"agregate": "max"}, [("agregate", 'unknown field (did you mean "aggregate"?)')]),
        ("semantic", {"min-score": "high"}, [("min-score", "Input should be a valid number")]),
        ("constrained", {"no-such": 1}, [("no-such", "unknown field")]),
        ("llm", {"no-match": 3}, [("no-match", "Input should be a valid string")]),
    ],
)
def test_validate_reports_router_options_at_their_path(host, strategy, options, expected) -> None:
    found = problems_of(composition(strategy, options), host.registries)
    assert [(p.path, p.message.split(",")[0], p.severity) for p in found] == [
        (f"architecture[0].router-options.{key}", message, "error") for key, message in expected
    ]
    assert all(f"the {strategy} router accepts:" in (p.hint or "") for p in found if "unknown" in p.message)


def test_router_options_that_a_strategy_accepts_pass_validate(host) -> None:
    for strategy, options in (
        ("semantic", {"aggregate": "centroid", "min-score": 0.3, "fallback": "tech", "sticky": 0.1}),
        ("llm", {"no-match": "error", "max-tokens": 4, "temperature": 0}),
    ):
        assert problems_of(composition(strategy, options), host.registries) == []


def test_a_semantic_fallback_without_min_score_is_a_warning(host) -> None:
    for options in ({"fallback": "tech"}, {"fallback": "tech", "min-score": None}):
        found = problems_of(composition("semantic", options), host.registries)
        assert [(p.path, p.message, p.severity) for p in found] == [
            ("architecture[0].router-options.fallback", "is never used without min-score", "warning")
        ]
