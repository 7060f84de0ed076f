"""The request fields that change what an answer is, checked in-process: each malformed one is a 400
naming it (`param`), as OpenAI names it; well-formed ones become the core's `AnswerOptions` and messages
with tool calls; a node that cannot do what is asked is the client's 400, naming the field; the pieces of
a streamed answer become chunk events with secrets masked in text, tool arguments and logprobs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llmnet_serve.chat import describe_failure
from llmnet_serve.pieces import EventPieces, streamed_answer, whole_answer
from llmnet_serve.wire import ChunkWriter, RequestError, completion, parse_chat_request

from llmnet_core import (
    AnswerOptions,
    Message,
    Redactor,
    RunResult,
    StreamChunk,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    UnsupportedFeatureError,
)
from llmnet_core.trace import Trace

USER = [{"role": "user", "content": "hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def parse(**fields: Any) -> Any:
    return parse_chat_request(json.dumps({"messages": USER, **fields}).encode())


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": "always"}, "tool_choice"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "other"}}},
            "tool_choice.function.name",
        ),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "response_format.json_schema.name",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "n"}}},
            "response_format.json_schema.schema",
        ),
        ({"logprobs": "yes"}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        (
            {
                "messages": [
                    *USER,
                    {"role": "assistant", "content": None, "tool_calls": [{"type": "function"}]},
                ]
            },
            "messages[1].tool_calls[0].id",
        ),
        (
            {
                "messages": [
                    *USER,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}],
                    },
                ]
            },
            "messages[1].tool_calls[0].function.arguments",
        ),
        ({"messages": [*USER, {"role": "tool", "content": "sunny"}]}, "messages[1].tool_call_id"),
    ],
)
def test_a_malformed_field_is_a_400_naming_it(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse(**fields)
    assert (refused.value.status, refused.value.param) == (400, param)
    assert refused.value.message


def test_well_formed_fields_become_answer_options_and_tool_messages() -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": True},
    }
    chat = parse(
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        response_format=schema,
        logprobs=True,
        top_logprobs=0,
    )
    assert chat.answer == AnswerOptions((WEATHER,), "required", False, schema, True, 0)
    call = {"id": "call_1@chat", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1@chat", "content": [{"type": "text", "text": "sunny"}]},
    ]
    chat = parse(messages=messages, tools=[WEATHER])
    assert chat.messages[1:] == [
        Message("assistant", "", (ToolCall("call_1@chat", "get_weather", "{}"),)),
        Message("tool", "sunny", tool_call_id="call_1@chat"),
    ]
    assert parse().answer == AnswerOptions()


def test_what_a_node_cannot_do_is_the_clients_400() -> None:
    error = UnsupportedFeatureError(
        'node "a" cannot answer this request', node="a", feature="tools", param="tools"
    )
    error.trace = object()  # raised inside the pipeline, at the node
    status, message, code = describe_failure(error, lambda text: text)
    assert (status, code) == (400, "unsupported_feature") and message.startswith('node "a"')


def events(parts: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(part[6:]) for part in parts]


def test_streamed_pieces_become_events_with_secrets_masked() -> None:
    secret = "sk-live-0123456789"
    pieces = EventPieces(ChunkWriter("r", 0, "m"), Redactor([secret]))
    text = f"key {secret} ok"
    tokens = [
        TokenLogprob(text[i : i + 3], -0.5, None, (TokenLogprob(text[i : i + 3], -0.5),))
        for i in range(0, len(text), 3)
    ]
    out = pieces.feed([StreamChunk(text=t.token, logprobs=(t,)) for t in tokens])
    out += pieces.feed(
        [
            StreamChunk(tool_calls=(ToolCallDelta(0, "c1", "lookup", '{"k": "sk-li'),)),
            StreamChunk(tool_calls=(ToolCallDelta(0, arguments='ve-0123456789"}'),)),
        ]
    )
    out += pieces.end()
    raw = b"".join(out).decode()
    assert "0123456789" not in raw and "sk-li" not in raw
    chunks = [e["choices"][0] for e in events(out)]
    assert chunks[0]["delta"]["role"] == "assistant"
    assert "".join(c["delta"].get("content") or "" for c in chunks) == "key *** ok"
    shown = [t for c in chunks if c.get("logprobs") for t in c["logprobs"]["content"]]
    assert len(shown) == len(tokens)
    # the tokens that overlap the secret are masked, their alternatives too; the others are as they were
    assert [t["token"] for t in shown] == ["key", *["***"] * 7, "k"]
    assert [a["token"] for t in shown for a in t["top_logprobs"]] == ["key", *["***"] * 7, "k"]
    calls = [d for c in chunks for d in c["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "c1" and calls[0]["function"]["name"] == "lookup"
    assert "".join(d["function"]["arguments"] for d in calls) == '{"k": "***"}'


def test_a_whole_answer_with_tool_calls_as_events_and_as_a_completion() -> None:
    secret = "sk-live-0123456789"
    call = ToolCall("c1@chat", "lookup", f'{{"k": "{secret}"}}')
    result = RunResult("", Trace("r"), "tool_calls", (call,))
    pieces = EventPieces(ChunkWriter("r", 0, "m"), Redactor([secret]))
    chunks = [e["choices"][0] for e in events([*pieces.feed(streamed_answer(result)), *pieces.end()])]
    assert chunks[0]["delta"]["role"] == "assistant" and chunks[0]["delta"]["content"] is None
    [head] = chunks[0]["delta"]["tool_calls"]
    assert (head["index"], head["id"], head["type"], head["function"]["name"]) == (
        0,
        "c1@chat",
        "function",
        "lookup",
    )
    arguments = "".join(
        d["function"]["arguments"] for c in chunks for d in c["delta"].get("tool_calls") or ()
    )
    assert arguments == '{"k": "***"}'
    text, calls, logprobs = whole_answer(result, Redactor([secret]))
    body = json.loads(completion("r", 0, "m", text, {}, None, "tool_calls", calls, logprobs))
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1@chat", "type": "function", "function": {"name": "lookup", "arguments": '{"k": "***"}'}}
        ],
    }
    assert body["choices"][0]["logprobs"] is None and body["choices"][0]["finish_reason"] == "tool_calls"
