"""Tools and JSON answers on the `ollama` backend, mapped to and from Ollama's native forms, against a real
HTTP server speaking its API: tool calls come back with ids and arguments as JSON text, the conversation
goes back with arguments as objects and each result named by its tool, a response format becomes
`format`, and what Ollama cannot do is not claimed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llmnet_ollama.backend import OllamaBackend
from llmnet_ollama.features import answer_fields, messages_for
from llmnet_testing import FakeOllamaServer, ToolCalls

from llmnet_core import AnswerOptions, BackendError, ChatRequest, Message, ModelSpec, Resources, ToolCall

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def model(request: dict[str, Any]) -> str | ToolCalls:
    if request.get("tools") and request["messages"][-1]["role"] == "user":
        return ToolCalls(("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"}))
    return "Paris"


def make(resources: Resources, url: str) -> OllamaBackend:
    spec = ModelSpec(
        name="m", backend="ollama", url=url, wire_model="llama3.2", options={"retry-backoff": 0.01}
    )
    return OllamaBackend(spec, resources)


def ask(answer: AnswerOptions, *messages: Message) -> ChatRequest:
    return ChatRequest(messages=messages or (Message("user", "weather?"),), answer=answer)


TOOLS = AnswerOptions(tools=(WEATHER, {"type": "function", "function": {"name": "get_time"}}))


def test_what_ollama_does_and_the_fields_it_gets() -> None:
    backend = make(Resources(), "http://127.0.0.1:9")
    assert [f for f in ("tools", "json_object", "json_schema") if backend.supports(f)] == [
        "tools",
        "json_object",
        "json_schema",
    ]
    assert not any(backend.supports(f) for f in ("tool_choice", "parallel_tool_calls", "logprobs"))
    assert answer_fields(AnswerOptions(tools=(WEATHER,))) == {"tools": [WEATHER]}
    assert answer_fields(AnswerOptions(tools=(WEATHER,), tool_choice="none")) == {}
    assert answer_fields(AnswerOptions(response_format={"type": "json_object"})) == {"format": "json"}
    schema_form = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
    assert answer_fields(AnswerOptions(response_format=schema_form)) == {"format": SCHEMA}
    assert answer_fields(AnswerOptions(response_format={"type": "text"})) == {}


def test_the_conversation_in_ollamas_form() -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    sent = messages_for(
        [
            Message("user", "weather?"),
            Message("assistant", "", (call,)),
            Message("tool", "sunny", tool_call_id="call_1"),
            Message("tool", "late", name="get_time"),
        ]
    )
    assert sent == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
        {"role": "tool", "content": "late", "tool_name": "get_time"},
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_come_back_in_openais_form(resources: Resources, stream: bool) -> None:
    with FakeOllamaServer(model) as server:
        backend = make(resources, server.url)
        if stream:
            chunks = [chunk async for chunk in backend.stream(ask(TOOLS))]
            deltas = [delta for chunk in chunks for delta in chunk.tool_calls]
            calls = [ToolCall(d.id or "", d.name or "", d.arguments) for d in deltas]
            assert [d.index for d in deltas] == [0, 1]
            finish = chunks[-1].finish_reason
        else:
            reply = await backend.complete(ask(TOOLS))
            calls, finish = list(reply.tool_calls), reply.finish_reason
        assert finish == "tool_calls"
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {"zone": "CET"}),
        ]
        assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
        assert server.chat_requests[0].json["tools"] == [dict(t) for t in TOOLS.tools]


async def test_a_json_schema_answer(resources: Resources) -> None:
    with FakeOllamaServer(model, structured="follow") as server:
        form = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
        reply = await make(resources, server.url).complete(ask(AnswerOptions(response_format=form)))
        assert json.loads(reply.text) == {"city": "Paris"}
        assert server.chat_requests[0].json["format"] == SCHEMA


async def test_a_malformed_tool_call_is_the_servers_fault(resources: Resources) -> None:
    body = {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": "", "tool_calls": [{"function": {}}]},
        "done": True,
    }
    with FakeOllamaServer(model) as server:
        server.push(body=json.dumps(body))
        with pytest.raises(BackendError, match=r"not an Ollama chat reply .*no function name"):
            await make(resources, server.url).complete(ask(TOOLS))
