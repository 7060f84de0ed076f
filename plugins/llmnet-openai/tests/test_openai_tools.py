"""Tools, response formats and logprobs on the `openai-api` backend, against a real HTTP server: the
fields reach the server as the caller wrote them, and tool calls (whole or in streamed pieces) and
log-probabilities come back in llmnet's values; a malformed tool call is the server's fault, named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llmnet_openai.backend import OpenAIBackend
from llmnet_openai.features import answer_fields
from llmnet_testing import FakeOpenAIServer, ToolCalls

from llmnet_core import (
    FEATURES,
    AnswerOptions,
    BackendError,
    ChatRequest,
    Message,
    ModelSpec,
    Resources,
    ToolCall,
    assemble_tool_calls,
)

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def model(request: dict[str, Any]) -> str | ToolCalls:
    if request.get("tools") and request["messages"][-1]["role"] == "user":
        return ToolCalls(("get_weather", {"city": "Paris", "days": 3}), content="Let me look.")
    return "It is sunny"


def make(resources: Resources, url: str) -> OpenAIBackend:
    spec = ModelSpec(name="m", backend="openai-api", url=url, options={"retry-backoff": 0.01})
    return OpenAIBackend(spec, resources)


def ask(answer: AnswerOptions, *messages: Message) -> ChatRequest:
    return ChatRequest(messages=messages or (Message("user", "weather?"),), model="gpt-x", answer=answer)


def test_every_feature_is_passed_on_as_written() -> None:
    backend = make(Resources(), "http://127.0.0.1:9")
    assert all(backend.supports(feature) for feature in FEATURES)
    answer = AnswerOptions(
        tools=(WEATHER,),
        tool_choice="required",
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
        logprobs=True,
        top_logprobs=3,
    )
    assert answer_fields(answer) == {
        "tools": [WEATHER],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "logprobs": True,
        "top_logprobs": 3,
    }
    assert answer_fields(AnswerOptions()) == {}


async def test_a_tool_call_whole_and_streamed(resources: Resources) -> None:
    with FakeOpenAIServer(model) as server:
        backend = make(resources, server.url)
        reply = await backend.complete(ask(AnswerOptions(tools=(WEATHER,))))
        assert reply.finish_reason == "tool_calls" and reply.text == "Let me look."
        [call] = reply.tool_calls
        assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris", "days": 3})
        assert call.id.startswith("call_")
        assert server.chat_requests[0].json["tools"] == [WEATHER]
        chunks = [chunk async for chunk in backend.stream(ask(AnswerOptions(tools=(WEATHER,))))]
        deltas = [delta for chunk in chunks for delta in chunk.tool_calls]
        assert len(deltas) > 2 and deltas[0].id and deltas[0].name == "get_weather"
        [streamed] = assemble_tool_calls(deltas)
        assert json.loads(streamed.arguments) == {"city": "Paris", "days": 3}
        assert chunks[-1].finish_reason == "tool_calls"
        assert "".join(chunk.text for chunk in chunks) == "Let me look."


async def test_the_conversation_goes_back_in_openai_form(resources: Resources) -> None:
    with FakeOpenAIServer(model) as server:
        call = ToolCall("call_abc", "get_weather", '{"city": "Paris"}')
        conversation = (
            Message("user", "weather?"),
            Message("assistant", "", (call,)),
            Message("tool", "sunny", tool_call_id="call_abc"),
        )
        reply = await make(resources, server.url).complete(
            ask(AnswerOptions(tools=(WEATHER,)), *conversation)
        )
        assert reply.text == "It is sunny" and reply.tool_calls == ()
        sent = server.chat_requests[0].json["messages"]
        assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [call.to_dict()]}
        assert sent[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_abc"}


async def test_logprobs_whole_and_streamed(resources: Resources) -> None:
    with FakeOpenAIServer("It is sunny") as server:
        backend = make(resources, server.url)
        answer = AnswerOptions(logprobs=True, top_logprobs=2)
        reply = await backend.complete(ask(answer))
        assert "".join(t.token for t in reply.logprobs) == "It is sunny"
        assert all(len(t.top) == 2 and t.top[0].token == t.token for t in reply.logprobs)
        assert bytes(reply.logprobs[0].bytes).decode() == reply.logprobs[0].token
        assert server.chat_requests[0].json["top_logprobs"] == 2
        chunks = [chunk async for chunk in backend.stream(ask(answer))]
        assert [t.token for chunk in chunks for t in chunk.logprobs] == [t.token for t in reply.logprobs]
        plain = await backend.complete(ask(AnswerOptions()))
        assert plain.logprobs is None


@pytest.mark.parametrize(
    "calls",
    [
        [{"id": "call_1", "type": "function", "function": {"arguments": "{}"}}],  # no name
        [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],  # no id
        "not a list",
    ],
)
async def test_a_malformed_tool_call_is_the_servers_fault(resources: Resources, calls: Any) -> None:
    body = {"choices": [{"message": {"content": None, "tool_calls": calls}, "finish_reason": "tool_calls"}]}
    with FakeOpenAIServer() as server:
        server.push(body=json.dumps(body))
        with pytest.raises(BackendError, match="answered something that is not a chat completion"):
            await make(resources, server.url).complete(ask(AnswerOptions(tools=(WEATHER,))))
