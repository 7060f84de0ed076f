"""The `llm` strategy: its reading of a model's answer (exact, normalised, or named in a longer reply),
what it asks the model for (an answer among the candidates' names), its `no-match` setting, and, through
real pipelines on in-process backends, how the core restricts or caps that answer."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from llmnet_routers.llm import LLMRouter, parse_choice

from llmnet_core import (
    Backend,
    Candidate,
    ChatRequest,
    ChatResponse,
    Pipeline,
    RouteRequest,
    RoutingError,
    hookimpl,
)


@pytest.mark.parametrize(
    ("answer", "expected", "how"),
    [
        ("billing", "billing", "exact"),
        ("Billing", "billing", "case-insensitive"),
        ('"tech-support".', "tech-support", "exact"),
        ("Tech Support", "tech-support", "normalised"),
        ("I think tech-support fits best, not billing", "tech-support", "named in the reply"),
        ("<think>billing or tech-support?</think>billing", "billing", "exact"),
        ("nothing useful", None, "no candidate named"),
    ],
)
def test_router_answers_are_parsed_robustly(answer, expected, how):
    assert parse_choice(answer, ["billing", "tech-support"]) == (expected, how)


@pytest.mark.parametrize("name", ['say "hi"', "  padded ", "why?", "(x)", "日本語"])
def test_a_name_given_exactly_is_taken_whatever_it_contains(name: str):
    assert parse_choice(name, ["other", name]) == (name, "exact")


# -- the router against a stand-in for the engine's `complete` --------------------------------------

NAMES = ("billing", "tech", "sales")


class Model:
    """A stand-in for the node's model: answers `reply` and records what it was asked."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    async def complete(self, messages: Any, **params: Any) -> ChatResponse:
        self.calls.append({"messages": messages, **params})
        return ChatResponse(text=self.reply)


def asking(model: Model, **options: Any) -> RouteRequest:
    candidates = tuple(Candidate(name, use_case=f"{name} questions") for name in NAMES)
    return RouteRequest("my invoice", candidates, "router", {}, complete=model.complete, options=options)


async def test_the_model_is_asked_for_one_of_the_names_with_the_sampling_options():
    model = Model("tech")
    decision = await LLMRouter().choose(asking(model, **{"max-tokens": 5, "top_p": 0.5, "no-match": "first"}))
    assert (decision.target, decision.reason, decision.answer) == ("tech", "llm answer (exact)", "tech")
    (call,) = model.calls
    assert call["choices"] == list(NAMES)
    assert {k: v for k, v in call.items() if k not in ("messages", "choices")} == {
        "temperature": 0,
        "max_tokens": 5,
        "top_p": 0.5,
    }


async def test_no_match_error_fails_and_says_what_the_model_answered(caplog):
    with caplog.at_level(logging.WARNING, logger="llmnet"), pytest.raises(RoutingError) as caught:
        await LLMRouter().choose(asking(Model("I cannot decide"), **{"no-match": "error"}))
    message = caught.value.message
    assert message.startswith('node "router": the model answered "I cannot decide"')
    assert "billing, tech, sales" in message and "no-match" in caught.value.hint
    assert "names no candidate; failing the request" in caplog.text


@pytest.mark.parametrize(("policy", "target"), [(None, "billing"), ("first", "billing"), ("sales", "sales")])
async def test_no_candidate_named_follows_no_match(caplog, policy: str | None, target: str):
    options = {} if policy is None else {"no-match": policy}
    with caplog.at_level(logging.WARNING, logger="llmnet"):
        decision = await LLMRouter().choose(asking(Model(""), **options))
    policy = policy or "first"  # the default
    assert decision.target == target and decision.answer == ""
    assert decision.reason == f'the answer named no candidate; no-match "{policy}" chose {target}'
    assert f"the model answered nothing, which names no candidate; routing to {target}" in caplog.text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"no-match": "nowhere"}, 'router-options.no-match "nowhere" is not a candidate here'),
        ({"no-match": 3}, "router-options.no-match: Input should be a valid string"),
        ({"no_match": ["first"]}, "router-options.no_match: Input should be a valid string"),
    ],
)
async def test_a_bad_no_match_is_named_with_its_path(options: dict, expected: str):
    with pytest.raises(RoutingError) as caught:
        await LLMRouter().choose(asking(Model("no idea"), **options))
    assert caught.value.message.startswith('node "router"') and expected in caught.value.message


# -- through pipelines: what reaches the backend -----------------------------------------------------


class Plain(Backend):
    """Cannot restrict its answer: the core caps the request instead; answers its `reply` parameter."""

    seen: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        Plain.seen.append(request)
        return ChatResponse(text=str(self.spec.parameters.get("reply", "sales")))


class Restricting(Plain):
    """Restricts its answer to the choices (the last one, here) and says so."""

    def constrains_choices(self) -> bool:
        return True

    async def complete(self, request: ChatRequest) -> ChatResponse:
        Plain.seen.append(request)
        return ChatResponse(text=request.choices[-1] if request.choices else "answer")


class Plugin:
    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("plain", Plain)
        register("restricting", Restricting)


@pytest.fixture(autouse=True)
def plugin(register_plugin):
    register_plugin(Plugin(), "choice-backends")
    Plain.seen = []


def routed(backend: str, options: dict[str, Any] | None = None, **parameters: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"backend": backend, "parameters": parameters}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "m", "output-to": [1], "router-options": options or {}},
            *({"name": name, "layer": 1, "model": "m", "output-to": [2]} for name in NAMES),
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }


async def route(data: dict[str, Any]) -> Any:
    async with Pipeline.from_dict(data) as pipeline:
        return await pipeline.run("hello", route_only=True)


async def test_a_backend_that_restricts_answers_gets_the_choices_and_no_cap():
    result = await route(routed("restricting"))
    assert result.trace.hops[1].node == "sales"
    (request,) = Plain.seen
    assert request.choices == NAMES and "max_tokens" not in request.parameters


async def test_a_backend_that_cannot_gets_a_small_token_cap_and_its_answer_is_read():
    result = await route(routed("plain", reply="Sales, I think"))
    assert result.trace.hops[1].node == "sales"
    assert result.trace.hops[1].decision["reason"] == "llm answer (named in the reply)"
    (request,) = Plain.seen
    assert request.choices == NAMES
    assert request.parameters["max_tokens"] == len("billing") + 8 == request.choice_max_tokens()


async def test_a_token_limit_in_router_options_wins_over_the_cap():
    await route(routed("plain", {"max-tokens": 2}))
    assert Plain.seen[0].parameters["max_tokens"] == 2


async def test_no_match_through_a_pipeline_follows_the_setting_and_the_trace_says_so():
    result = await route(routed("plain", reply="no idea"))
    reason = 'the answer named no candidate; no-match "first" chose billing'
    assert result.trace.hops[1].node == "billing" and result.trace.hops[1].decision["reason"] == reason
    with pytest.raises(RoutingError) as caught:
        await route(routed("plain", {"no-match": "error"}, reply="no idea"))
    assert 'the model answered "no idea"' in caught.value.message
    assert caught.value.trace.error == caught.value.message
    result = await route(routed("plain", {"no-match": "tech"}, reply="no idea"))
    assert result.trace.hops[1].node == "tech"
    reason = 'the answer named no candidate; no-match "tech" chose tech'
    assert result.trace.hops[1].decision["reason"] == reason


def test_the_default_request_has_no_choices():
    request = ChatRequest(messages=())
    assert request.choices is None and request.choice_max_tokens() == 8
    assert request.choice_from_json('{"choice": "x"}') is None
