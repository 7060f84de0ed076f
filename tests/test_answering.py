"""A caller's tools, response format and logprobs in the engine: only the node whose answer can be the
output gets them; a node that cannot do what is asked is refused (naming it) before its model is called;
tool calls end the walk at the node that asked, and a conversation that ends with the tools' results
goes back to that node without routing; each model sees its own tool call ids."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import pytest

from llmnet_core import (
    FEATURES,
    AnswerOptions,
    Backend,
    ChatRequest,
    ChatResponse,
    HookCall,
    Message,
    NodeKind,
    Pipeline,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    UnsupportedFeatureError,
    assemble_tool_calls,
    hookimpl,
)
from llmnet_core.answering import asking_node, own_ids, tagged, untagged

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
TOOLS = AnswerOptions(tools=(WEATHER,))


class Tooled(Backend):
    """Asks for `get_weather` when offered tools and the last message is the user's; answers a tool
    result with its content; routes on "weather" in the text. Remembers every request; its entry's
    `supports` option lists the features it supports."""

    calls: ClassVar[list[ChatRequest]] = []

    def supports(self, feature: str) -> bool:
        return feature in self.spec.options.get("supports", FEATURES)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        Tooled.calls.append(request)
        last = request.messages[-1]
        if request.choices:
            return ChatResponse("weather" if "weather" in last.content else "billing")
        if last.role == "tool":
            return ChatResponse(f"{request.node}: it is {last.content}", finish_reason="stop")
        if request.answer.offers_tools:
            call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
            return ChatResponse("", finish_reason="tool_calls", tool_calls=(call,))
        return ChatResponse(f"{request.node}: {last.content}", finish_reason="stop")


class Relay(NodeKind):
    async def call(self, call: HookCall) -> Any:
        return "relayed"


class Plugin:
    @hookimpl(tryfirst=True)
    def llmnet_register_backends(self, register: Any) -> None:
        register("tooled", Tooled)

    @hookimpl
    def llmnet_register_node_kinds(self, register: Any) -> None:
        register("relay", Relay)


@pytest.fixture(autouse=True)
def plugin(register_plugin: Any) -> None:
    register_plugin(Plugin(), "answering-test-plugin")
    Tooled.calls = []


def routed(**weather_model: Any) -> dict[str, Any]:
    """router → billing | weather (layer 1) → output; the weather node's model takes `weather_model`."""
    return {
        "models": {"m": {"backend": "tooled"}, "w": {"backend": "tooled", **weather_model}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "m", "output-to": [1]},
            {"name": "billing", "layer": 1, "model": "m", "use-case": "invoices", "output-to": ["output"]},
            {"name": "weather", "layer": 1, "model": "w", "use-case": "forecasts", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


async def run(data: dict[str, Any], prompt: Any, **kwargs: Any) -> Any:
    async with Pipeline.from_dict(data) as pipe:
        return await pipe.run(prompt, **kwargs)


async def test_a_tool_call_ends_the_walk_with_ids_that_name_the_node() -> None:
    result = await run(routed(), "weather in Paris?", answer=TOOLS)
    assert result.finish_reason == "tool_calls" and result.output == ""
    assert result.tool_calls == (ToolCall("call_1@weather", "get_weather", '{"city": "Paris"}'),)
    assert [(h.node, h.chosen_by) for h in result.trace.hops][1:] == [
        ("weather", "llm router"),
        ("output", "tool calls"),
    ]
    router_call, handler_call = Tooled.calls
    assert router_call.answer == AnswerOptions()  # routers never see the tools
    assert handler_call.answer == TOOLS


async def test_the_tools_result_goes_back_to_the_node_that_asked_without_routing() -> None:
    first = await run(routed(), "weather in Paris?", answer=TOOLS)
    Tooled.calls = []
    conversation = [
        Message("user", "weather in Paris?"),
        Message("assistant", "", first.tool_calls),
        Message("tool", "sunny", tool_call_id=first.tool_calls[0].id),
    ]
    result = await run(routed(), conversation, answer=TOOLS)
    assert result.output == "weather: it is sunny" and result.tool_calls == ()
    [call] = Tooled.calls  # no routing question
    assert [(h.node, h.chosen_by) for h in result.trace.hops] == [
        ("weather", "tool result"),
        ("output", "only target"),
    ]
    # the model sees its own ids
    assert call.messages[1].tool_calls[0].id == "call_1" and call.messages[2].tool_call_id == "call_1"


async def test_a_node_that_cannot_is_refused_before_its_model_is_called() -> None:
    with pytest.raises(UnsupportedFeatureError) as refused:
        await run(routed(supports=["tools"]), "weather?", answer=AnswerOptions(logprobs=True))
    error = refused.value
    assert (error.node, error.feature, error.param) == ("weather", "logprobs", "logprobs")
    assert error.message == (
        'node "weather" cannot answer this request: its model "w" (tooled backend) cannot '
        "return log-probabilities ('logprobs')"
    )
    assert error.exit_code == 2
    assert [c.node for c in Tooled.calls] == ["router"]  # routed, then refused without a model call
    # the other handler supports everything: the same request is answered there
    result = await run(routed(supports=["tools"]), "invoice?", answer=AnswerOptions(logprobs=True))
    assert result.output == "billing: invoice?"


async def test_a_delegated_node_cannot_answer_with_tools() -> None:
    data = {
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": ["relay"]},
            {"name": "relay", "layer": 1, "adapter": "relay", "output-to": ["out"]},
            {"name": "out", "adapter": "output"},
        ]
    }
    with pytest.raises(
        UnsupportedFeatureError, match='node "relay" cannot answer this request: a relay node'
    ):
        await run(data, "hi", answer=TOOLS)
    assert (await run(data, "hi")).output == "relayed"


async def test_streamed_tool_calls_reach_on_chunk_with_the_callers_ids() -> None:
    class Streaming(Tooled):
        async def stream(self, request: ChatRequest) -> Any:
            yield StreamChunk(tool_calls=(ToolCallDelta(0, "call_9", "get_weather"),))
            yield StreamChunk(tool_calls=(ToolCallDelta(0, arguments='{"city"'),))
            yield StreamChunk(tool_calls=(ToolCallDelta(0, arguments=': "Oslo"}'),))
            yield StreamChunk(finish_reason="tool_calls")

    class StreamingPlugin:
        @hookimpl(tryfirst=True)
        def llmnet_register_backends(self, register: Any) -> None:
            register("streaming", Streaming)

    from llmnet_core.plugins import get_host

    get_host().register(StreamingPlugin(), "answering-streaming-plugin")
    try:
        data = {
            "models": {"s": {"backend": "streaming"}},
            "architecture": [
                {"name": "chat", "layer": 0, "model": "s", "output-to": ["out"]},
                {"name": "out", "adapter": "output"},
            ],
        }
        pieces: list[StreamChunk] = []
        result = await run(data, "weather?", answer=TOOLS, on_chunk=pieces.append)
    finally:
        get_host().unregister(name="answering-streaming-plugin")
    assert [p.tool_calls[0].id for p in pieces] == ["call_9@chat", None, None]
    assert result.tool_calls == (ToolCall("call_9@chat", "get_weather", '{"city": "Oslo"}'),)
    assert result.finish_reason == "tool_calls"


def test_ids_name_the_node_even_when_node_names_hold_the_separator() -> None:
    nodes = ["a", "team@a", "b"]
    assert untagged(tagged("call_1", "team@a"), nodes) == ("call_1", "team@a")
    assert untagged(tagged("x@y", "a"), nodes) == ("x@y", "a")
    assert untagged("call_from_elsewhere", nodes) == ("call_from_elsewhere", None)
    assert untagged("@a", nodes) == ("@a", None)  # no id of its own: not one of ours


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ([Message("assistant", "", (ToolCall("c@b", "f"),)), Message("tool", "r", tool_call_id="c@b")], "b"),
        ([Message("assistant", "", (ToolCall("c@b", "f"),))], None),  # no result yet
        ([Message("assistant", "", (ToolCall("c", "f"),)), Message("tool", "r", tool_call_id="c")], None),
        ([Message("assistant", "hello")], None),
        ([], None),
    ],
)
def test_the_node_a_conversation_goes_back_to(after: list[Message], expected: str | None) -> None:
    assert asking_node(after, ["a", "b"]) == expected


def test_own_ids_and_the_wire_forms() -> None:
    messages = [
        Message("assistant", "", (ToolCall("c1@a", "f", '{"x": 1}'),)),
        Message("tool", "done", tool_call_id="c1@a"),
    ]
    mine = own_ids(messages, ["a"])
    assert mine[0].to_dict() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}],
    }
    assert mine[1].to_dict() == {"role": "tool", "content": "done", "tool_call_id": "c1"}
    assert Message.from_dict(mine[0].to_dict()) == mine[0]
    assert Message.from_dict({"role": "user", "content": "hi"}) == Message("user", "hi")


def test_streamed_pieces_make_whole_calls() -> None:
    pieces = [
        ToolCallDelta(1, "b", "g", '{"y"'),
        ToolCallDelta(0, "a", "f", ""),
        ToolCallDelta(0, arguments='{"x": 1}'),
        ToolCallDelta(1, arguments=": 2}"),
    ]
    assert assemble_tool_calls(pieces) == (ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", '{"y": 2}'))


@pytest.mark.parametrize(
    ("options", "features"),
    [
        (AnswerOptions(), ()),
        (TOOLS, ("tools",)),
        (replace(TOOLS, tool_choice="none"), ()),
        (
            replace(TOOLS, tool_choice="required", parallel_tool_calls=False),
            ("tools", "tool_choice", "parallel_tool_calls"),
        ),
        (AnswerOptions(response_format={"type": "text"}), ()),
        (AnswerOptions(response_format={"type": "json_object"}), ("json_object",)),
        (
            AnswerOptions(
                response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}
            ),
            ("json_schema",),
        ),
        (AnswerOptions(logprobs=True, top_logprobs=2), ("logprobs",)),
    ],
)
def test_the_features_a_request_needs(options: AnswerOptions, features: tuple[str, ...]) -> None:
    assert options.features() == features
    assert set(features) <= set(FEATURES)
