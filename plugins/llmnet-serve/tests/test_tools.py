"""Tools, response formats and logprobs through `llmnet serve`, with the official `openai` client, as apps
use them: the tool-calling loop (a call, the tool's result, the final answer) plain and streamed, on an
OpenAI-compatible handler and on an Ollama one; a tool result that goes back to the handler that asked
in a routed pipeline; `response_format` (the client's `parse` helper too); logprobs; a 400 that names
the node for what its backend cannot do; and the composition's secrets masked in all of it."""

from __future__ import annotations

import itertools
import json
import os
import secrets
from pathlib import Path
from typing import Any

import openai
import pytest
from llmnet_testing import FakeOllamaServer, ToolCalls
from pydantic import BaseModel

CANARY = f"sk-canary-{secrets.token_hex(12)}"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


def weather_model(request: dict[str, Any]) -> str | ToolCalls:
    """A model that asks for the weather tool when offered it, and answers from the tool's result."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return f"It is {last['content']} in Paris."
    if request.get("tools") and request.get("tool_choice") != "none":
        return ToolCalls(("get_weather", {"city": "Paris"}))
    return "Paris is the capital of France."


def one_node(url: str, name: str = "assistant", **model: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": url, **model}},
        "architecture": [
            {"name": name, "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def write_json(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def client_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def handler(fake_model):
    return fake_model(weather_model, name="weather", structured="follow")


@pytest.fixture(scope="module")
def client(handler, start_serve, module_dir) -> openai.OpenAI:
    return client_for(start_serve(write_json(module_dir, "tools.json", one_node(handler.url))).url)


def ask(question: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": question}]


def calls_to(server: Any, marker: str) -> list[Any]:
    return [r for r in server.chat_requests if marker in json.dumps(r.json["messages"])]


def test_the_tool_calling_loop(client, handler):
    messages = ask("What is the weather in Paris? [loop-1]")
    first = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    final = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
    assert final.choices[0].message.content == "It is sunny in Paris."
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.tool_calls is None
    asked, answered = calls_to(handler, "[loop-1]")
    assert asked.json["tools"] == [WEATHER]
    # the model got its own call id back (the fake refuses a tool message that answers no call it made)
    sent_back = answered.json["messages"]
    own_id = sent_back[1]["tool_calls"][0]["id"]
    assert sent_back[2] == {"role": "tool", "content": "sunny", "tool_call_id": own_id}
    assert call.id.startswith(own_id) and call.id != own_id


def test_the_tool_calling_loop_streamed(client, handler):
    messages = ask("What is the weather in Paris? [loop-2]")
    chunks = list(client.chat.completions.create(model="m", messages=messages, tools=[WEATHER], stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    pieces = [piece for delta in deltas for piece in delta.tool_calls or ()]
    assert len(pieces) >= 3  # the id and name, then the arguments in pieces, as OpenAI streams them
    assert {piece.index for piece in pieces} == {0}
    assert pieces[0].id and pieces[0].type == "function" and pieces[0].function.name == "get_weather"
    assert all(piece.id is None for piece in pieces[1:])
    arguments = "".join(piece.function.arguments or "" for piece in pieces)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert calls_to(handler, "[loop-2]")[0].json["stream"] is True  # the model's answer was streamed
    call = {
        "id": pieces[0].id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": pieces[0].id, "content": "rainy"},
    ]
    stream = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER], stream=True)
    chunks = [chunk for chunk in stream if chunk.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "It is rainy in Paris."
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_choice_none_and_a_forced_call(client, handler):
    plain = client.chat.completions.create(
        model="m", messages=ask("capital? [choice-1]"), tools=[WEATHER], tool_choice="none"
    )
    assert plain.choices[0].message.tool_calls is None
    forced = client.chat.completions.create(
        model="m",
        messages=ask("capital? [choice-2]"),
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert forced.choices[0].message.tool_calls[0].function.name == "get_weather"
    [sent] = calls_to(handler, "[choice-2]")
    assert sent.json["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent.json["parallel_tool_calls"] is False


class Place(BaseModel):
    city: str
    country: str


def test_response_format_json_schema(client, handler):
    form = {"type": "json_schema", "json_schema": {"name": "place", "schema": CITY, "strict": True}}
    reply = client.chat.completions.create(
        model="m", messages=ask("capital? [format-1]"), response_format=form
    )
    assert set(json.loads(reply.choices[0].message.content)) == {"city", "country"}
    assert calls_to(handler, "[format-1]")[0].json["response_format"] == form
    stream = client.chat.completions.create(
        model="m", messages=ask("capital? [format-2]"), response_format=form, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert set(json.loads(text)) == {"city", "country"}
    parsed = client.chat.completions.parse(
        model="m", messages=ask("capital? [format-3]"), response_format=Place
    )
    assert isinstance(parsed.choices[0].message.parsed, Place)
    json_object = client.chat.completions.create(
        model="m", messages=ask("capital? [format-4]"), response_format={"type": "json_object"}
    )
    json.loads(json_object.choices[0].message.content)


def test_logprobs(client):
    reply = client.chat.completions.create(
        model="m", messages=ask("capital? [logprobs-1]"), logprobs=True, top_logprobs=2
    )
    tokens = reply.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == reply.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)
    assert all(bytes(t.bytes).decode() == t.token for t in tokens)
    stream = client.chat.completions.create(
        model="m", messages=ask("capital? [logprobs-2]"), logprobs=True, stream=True
    )
    chunks = [c for c in stream if c.choices]
    streamed = [t for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert "".join(t.token for t in streamed) == "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(streamed) > 1


def test_a_bad_tools_field_is_a_400_naming_it(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="m", messages=ask("hi"), tools=[{"type": "function", "function": {"name": "bad name!"}}]
        )
    assert refused.value.body["param"] == "tools[0].function.name"


# -- a backend that cannot do what is asked ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ollama(start_serve, module_dir):
    with FakeOllamaServer(weather_model, models=["llama3.2"]) as server:
        composition = one_node(server.url, name="local")
        composition["models"]["m"] = {"runner": "ollama", "url": server.url, "model": "llama3.2"}
        serve = start_serve(write_json(module_dir, "ollama.json", composition))
        yield client_for(serve.url), server


@pytest.mark.parametrize("stream", [False, True])
def test_what_the_node_cannot_do_is_a_400_naming_it(ollama, stream):
    client, server = ollama
    before = len(server.chat_requests)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="m", messages=ask("hi"), logprobs=True, stream=stream)
    error = refused.value.body
    assert error["type"] == "invalid_request_error" and error["param"] == "logprobs"
    assert error["code"] == "unsupported_feature"
    assert 'node "local"' in error["message"] and "ollama backend" in error["message"]
    assert "log-probabilities" in error["message"]
    with pytest.raises(openai.BadRequestError) as forced:
        client.chat.completions.create(model="m", messages=ask("hi"), tools=[WEATHER], tool_choice="required")
    assert forced.value.body["param"] == "tool_choice" and 'node "local"' in forced.value.body["message"]
    assert len(server.chat_requests) == before  # refused before the model was asked


@pytest.mark.parametrize("stream", [False, True])
def test_the_tool_calling_loop_on_ollama(ollama, stream):
    client, server = ollama

    def create(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str]:
        if not stream:
            choice = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER]).choices[0]
            calls = [c.model_dump() for c in choice.message.tool_calls or ()]
            return choice.message.content or "", calls, choice.finish_reason
        chunks = [
            c
            for c in client.chat.completions.create(
                model="m", messages=messages, tools=[WEATHER], stream=True
            )
            if c.choices
        ]
        pieces = [p for c in chunks for p in c.choices[0].delta.tool_calls or ()]
        calls = [
            {
                "id": p.id,
                "type": "function",
                "function": {"name": p.function.name, "arguments": p.function.arguments},
            }
            for p in pieces
        ]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        return text, calls, chunks[-1].choices[0].finish_reason

    messages = ask(f"Weather in Paris? [ollama-{stream}]")
    _, calls, finish = create(messages)
    assert finish == "tool_calls"
    [call] = calls
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {
        "city": "Paris"
    }
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "windy"},
    ]
    text, calls, finish = create(messages)
    assert (text, calls, finish) == ("It is windy in Paris.", [], "stop")
    sent = server.chat_requests[-1].json
    assert sent["tools"] == [WEATHER]
    # Ollama's own form: arguments as an object, the tool's name with its result
    assert sent["messages"][1]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert sent["messages"][2] == {"role": "tool", "content": "windy", "tool_name": "get_weather"}


# -- a routed pipeline ------------------------------------------------------------------------------------


def test_a_tool_result_goes_back_to_the_handler_that_asked(fake_server, start_serve, tmp_path):
    turns = itertools.count()
    # a router that never picks the same handler twice in a row: only a follow-up that skips routing
    # reaches the handler that asked for the call
    router = fake_server(lambda request: ["billing", "weather"][next(turns) % 2], name="router")
    billing = fake_server(lambda request: "billing here", name="billing")
    weather = fake_server(weather_model, name="weather")
    composition = {
        "models": {
            "router-model": {"type": "external", "url": router.url},
            "billing-model": {"type": "external", "url": billing.url},
            "weather-model": {"type": "external", "url": weather.url},
        },
        "architecture": [
            {"name": "router", "layer": 0, "model": "router-model", "output-to": [1]},
            {
                "name": "billing",
                "layer": 1,
                "model": "billing-model",
                "use-case": "invoices",
                "output-to": ["output"],
            },
            {
                "name": "weather",
                "layer": 1,
                "model": "weather-model",
                "use-case": "forecasts",
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }
    client = client_for(start_serve(write_json(tmp_path, "routed.json", composition)).url)
    assert (
        client.chat.completions.create(model="m", messages=ask("invoice?"), tools=[WEATHER])
        .choices[0]
        .message.content
        == "billing here"
    )
    messages = ask("And the weather in Paris?")
    first = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls
    assert call.id.endswith("@weather")
    routed = len(router.chat_requests)
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "foggy"},
    ]
    final = client.chat.completions.create(
        model="m", messages=messages, tools=[WEATHER], extra_headers={"x-llmnet-trace": "1"}
    )
    assert final.choices[0].message.content == "It is foggy in Paris."
    assert len(router.chat_requests) == routed  # no routing question for the follow-up
    hops = final.model_extra["llmnet_trace"]["hops"]
    assert [(hop["node"], hop["chosen_by"]) for hop in hops] == [
        ("weather", "tool result"),
        ("output", "only target"),
    ]
    assert len(billing.chat_requests) == 1


# -- secrets ----------------------------------------------------------------------------------------------


def test_secrets_are_masked_in_tool_calls_and_logprobs(fake_server, start_serve, tmp_path):
    def leaky(request: dict[str, Any]) -> str | ToolCalls:
        if request.get("tools"):
            return ToolCalls(("get_weather", {"city": f"Paris {CANARY}"}))
        return f"the key is {CANARY} indeed"

    model = fake_server(leaky, pieces=lambda text: [text[i : i + 3] for i in range(0, len(text), 3)])
    path = write_json(tmp_path, "canary.json", one_node(model.url, **{"api-key": "$CANARY_KEY"}))
    client = client_for(start_serve(path, env={**os.environ, "CANARY_KEY": CANARY}).url)
    for stream in (False, True):
        reply = client.chat.completions.create(
            model="m", messages=ask("weather?"), tools=[WEATHER], stream=stream
        )
        raw = json.dumps([c.model_dump() for c in reply] if stream else reply.model_dump())
        assert CANARY[:12] not in raw and "***" in raw
        reply = client.chat.completions.create(
            model="m", messages=ask("key?"), logprobs=True, top_logprobs=1, stream=stream
        )
        raw = json.dumps([c.model_dump() for c in reply] if stream else reply.model_dump())
        assert "sk-c" not in raw and CANARY[-6:] not in raw and "***" in raw
