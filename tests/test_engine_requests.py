"""What a request brings to `Pipeline.run` besides its text: a chat history (routed on its last user
message), per-request sampling parameters, and what comes back: the final answer's finish reason, and
timeouts marked by their type (so that a server can answer 504 without reading messages)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from llmnet_core import (
    Backend,
    BackendTimeoutError,
    ChatRequest,
    ChatResponse,
    CompositionError,
    HookCall,
    Message,
    NodeKind,
    NodeSpec,
    Pipeline,
    PipelineError,
    StepTimeoutError,
    Transport,
    TransportError,
    TransportTimeoutError,
    UsageError,
    hookimpl,
    load_composition,
)
from llmnet_core.composition import json_schema
from llmnet_core.composition.schema import CompositionFile
from llmnet_core.plugins import get_host

ROUTER_PROMPT_START = "You are a router."


class Recording(Backend):
    """Answers routing questions with the candidate named in the request, and anything else with the
    node's name and the user text; remembers every request. A `finish` option sets the finish reason."""

    calls: ClassVar[list[ChatRequest]] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        Recording.calls.append(request)
        user = [m.content for m in request.messages if m.role == "user"][-1]
        if request.messages[0].content.startswith(ROUTER_PROMPT_START):
            choice = "billing" if "invoice" in user else "output" if "echo" in user else "tech"
            return ChatResponse(text=choice, finish_reason="stop")
        finish = self.spec.options.get("finish", "stop")
        return ChatResponse(text=f"{request.node}: {user}", finish_reason=finish)


class Slow(Transport):
    """A hook peer that sleeps past its timeout, or raises the transport's own timeout error."""

    async def call(self, call: HookCall) -> Any:
        if self.spec.options.get("behaviour") == "own-timeout":
            raise TransportTimeoutError(f"peer gave no answer within {self.spec.timeout:g} s")
        if self.spec.options.get("behaviour") == "fail":
            raise TransportError("peer answered HTTP 500")
        await asyncio.sleep(5)
        return None


class Silent(NodeKind):
    """A node kind whose peer never answers; its nodes may take `timeout` seconds."""

    def __init__(self, spec: NodeSpec, resources: Any) -> None:
        super().__init__(replace(spec, timeout=0.2), resources)

    async def call(self, call: HookCall) -> Any:
        await asyncio.sleep(5)


class Plugin:
    @hookimpl(tryfirst=True)
    def llmnet_register_backends(self, register: Any) -> None:
        register("recording", Recording)

    @hookimpl(tryfirst=True)
    def llmnet_register_transports(self, register: Any) -> None:
        register("slow", Slow)

    @hookimpl
    def llmnet_register_node_kinds(self, register: Any) -> None:
        register("silent", Silent)


@pytest.fixture(autouse=True)
def plugin(register_plugin: Any) -> None:
    register_plugin(Plugin(), "engine-requests-test-plugin")
    Recording.calls = []


def routed(**extra: Any) -> dict[str, Any]:
    """router (layer 0, asks its model) → billing | tech (layer 1) → output."""
    return {
        "models": {"m": {"backend": "recording"}, "short": {"backend": "recording", "finish": "length"}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "m", "output-to": [1]},
            {
                "name": "billing",
                "layer": 1,
                "model": "short",
                "use-case": "invoices",
                "context": "You handle invoices.",
                "output-to": ["output"],
            },
            {"name": "tech", "layer": 1, "model": "m", "use-case": "bugs", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
        **extra,
    }


def calls_of(node: str) -> list[ChatRequest]:
    return [c for c in Recording.calls if c.node == node]


async def run(data: dict[str, Any], prompt: Any, **kwargs: Any) -> Any:
    async with Pipeline.from_dict(data) as pipe:
        return await pipe.run(prompt, **kwargs)


# -- a chat history ------------------------------------------------------------------------------------


async def test_history_is_routed_on_the_last_user_message_and_reaches_the_handler() -> None:
    history = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "My app crashes."},
        {"role": "assistant", "content": "Which version?"},
        {"role": "user", "content": "Version 2; and my invoice is wrong"},
        {"role": "assistant", "content": "Here is what I found:"},
    ]
    result = await run(routed(), history)
    assert result.output == "billing: Version 2; and my invoice is wrong"
    (route,) = calls_of("router")
    assert [m.content for m in route.messages if m.role == "user"] == [history[3]["content"]]
    (answer,) = calls_of("billing")
    # the node's context first, then the whole conversation in order, trailing messages included
    assert [m.to_dict() for m in answer.messages] == [
        {"role": "system", "content": "You handle invoices."},
        *history,
    ]


async def test_conditions_and_input_see_the_last_user_message() -> None:
    data = {
        "models": {"m": {"backend": "recording"}},
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": [1]},
            {"name": "long", "layer": 1, "model": "m", "if": "$WORD_COUNT > 3", "output-to": ["output"]},
            {"name": "short", "layer": 1, "model": "m", "if": "$WORD_COUNT <= 3", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    messages = [
        Message("user", "a question of many many words"),
        Message("assistant", "a long long long long reply"),
        Message("user", "thanks"),
        Message("assistant", "you are welcome, truly welcome"),
    ]
    result = await run(data, messages)
    assert result.output == "short: thanks"
    assert result.trace.path == ["entry", "short", "output"]


async def test_a_request_without_a_user_message_is_refused() -> None:
    with pytest.raises(PipelineError, match="no user message"):
        await run(routed(), [{"role": "system", "content": "be brief"}])
    with pytest.raises(PipelineError, match="no messages"):
        await run(routed(), [])
    assert Recording.calls == []


# -- per-request sampling parameters -------------------------------------------------------------------


async def test_parameters_reach_only_the_answering_node() -> None:
    parameters = {"temperature": 0.3, "max_tokens": 5, "top_p": 0.9, "stop": ["\n"], "seed": 7}
    await run(routed(), "my invoice is wrong", parameters=parameters)
    (route,) = calls_of("router")
    assert route.parameters.get("max_tokens") != 5 and "seed" not in route.parameters
    (answer,) = calls_of("billing")
    assert dict(answer.parameters) == parameters


async def test_parameters_skip_nodes_whose_answer_cannot_be_the_output() -> None:
    data = {
        "models": {"m": {"backend": "recording"}},
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": ["draft"]},
            {"name": "draft", "layer": 1, "model": "m", "output-to": ["review"]},
            {"name": "review", "layer": 2, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = await run(data, "write a haiku", parameters={"max_tokens": 9, "temperature": None})
    assert result.output == "review: draft: write a haiku"
    assert dict(calls_of("draft")[0].parameters) == {}
    assert dict(calls_of("review")[0].parameters) == {"max_tokens": 9}  # None means "not given"


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"model": "gpt-4"}, "parameters.model cannot be set per request"),
        ({"max_tokens": 0}, "parameters.max_tokens must be a whole number ≥ 1"),
        ({"max_tokens": True}, "parameters.max_tokens must be a whole number"),
        ({"temperature": "hot"}, "parameters.temperature must be a number ≥ 0"),
        ({"stop": [1]}, "parameters.stop must be a string or a list of strings"),
        ({"seed": 1.5}, "parameters.seed must be a whole number"),
    ],
)
async def test_bad_parameters_are_usage_errors(parameters: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as info:
        await run(routed(), "my invoice", parameters=parameters)
    assert info.value.message.startswith(words)
    assert Recording.calls == []


# -- the finish reason ---------------------------------------------------------------------------------


async def test_finish_reason_is_the_answering_models() -> None:
    cut = await run(routed(), "my invoice is wrong")
    assert cut.finish_reason == "length"  # billing's model stopped at max_tokens
    assert cut.to_dict()["finish_reason"] == "length"
    whole = await run(routed(), "the app crashes")
    assert whole.finish_reason == "stop"
    pieces: list[str] = []
    streamed = await run(routed(), "my invoice again", on_token=pieces.append)
    assert streamed.finish_reason == "length" and "".join(pieces) == streamed.output


async def test_no_finish_reason_when_no_model_answered() -> None:
    data = {
        "models": {"m": {"backend": "recording"}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "m", "output-to": ["tech", "output"]},
            {"name": "tech", "layer": 1, "model": "m", "use-case": "bugs", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = await run(data, "echo me")  # the router sends the request straight to the output
    assert result.trace.path == ["router", "output"]
    assert result.output == "echo me" and result.finish_reason is None


# -- timeouts, by type ---------------------------------------------------------------------------------


async def test_a_backend_timeout_keeps_its_type_and_names_the_node(fake_server: Any) -> None:
    slow = fake_server("late", delay=5)
    data = {
        "models": {"m": {"type": "external", "url": slow.url, "timeout": 0.2, "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    with pytest.raises(BackendTimeoutError) as info:
        await run(data, "hello")
    assert isinstance(info.value, StepTimeoutError)
    assert info.value.message.startswith('node "chat": ') and "0.2 s" in info.value.message
    assert info.value.trace is not None and info.value.trace.error == info.value.message


def hooked(behaviour: str, on_failure: str = "abort") -> dict[str, Any]:
    hook = {"function": "peer", "mode": "transform", "on_failure": on_failure}
    return {
        "models": {"m": {"backend": "recording"}},
        "functions": {"peer": {"type": "slow", "timeout": 0.2, "behaviour": behaviour}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"], "hooks": {"pre": [hook]}},
            {"name": "output", "adapter": "output"},
        ],
    }


async def test_an_aborting_hook_that_times_out_is_a_step_timeout() -> None:
    with pytest.raises(StepTimeoutError) as info:
        await run(hooked("sleep"), "hello")
    assert 'pre-hook "peer"' in info.value.message and "0.2 s" in info.value.message
    assert info.value.trace.hops[0].hooks[0].status == "timeout"
    with pytest.raises(StepTimeoutError, match=r"peer gave no answer within 0\.2 s"):
        await run(hooked("own-timeout"), "hello")  # the transport's own timeout error counts too


async def test_other_hook_failures_are_not_timeouts() -> None:
    with pytest.raises(PipelineError) as info:
        await run(hooked("fail"), "hello")
    assert not isinstance(info.value, StepTimeoutError)
    result = await run(hooked("sleep", on_failure="continue"), "hello")
    assert result.output == "chat: hello"  # a timeout under on_failure: continue is not an error


async def test_a_delegated_node_that_times_out_is_a_step_timeout() -> None:
    data = {
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": ["relay"]},
            {"name": "relay", "layer": 1, "adapter": "silent", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    async with Pipeline.from_dict(data) as pipe:
        with pytest.raises(
            StepTimeoutError, match=r'node "relay" \(silent node\) gave no answer within 0\.2 s'
        ):
            await pipe.run("hello")


# -- the composition's name ----------------------------------------------------------------------------


def test_the_schema_has_an_optional_name() -> None:
    assert CompositionFile.model_validate({"architecture": [], "name": "support-bot"}).name == "support-bot"
    assert CompositionFile.model_validate({"architecture": []}).name is None
    assert "name" in json_schema()["properties"]


def test_a_composition_name_is_kept_without_a_warning() -> None:
    composition = load_composition(routed(name="support-bot"), registries=get_host().registries)
    assert composition.file.name == "support-bot"
    assert not [p for p in composition.warnings if "name" in str(p)]


def test_a_name_that_is_not_text_is_an_error() -> None:
    with pytest.raises((CompositionError, ValueError)):
        CompositionFile.model_validate({"architecture": [], "name": ""})
    with pytest.raises(CompositionError) as caught:
        load_composition(routed(name=42), registries=get_host().registries)
    assert any(p.path == "name" for p in caught.value.problems)
