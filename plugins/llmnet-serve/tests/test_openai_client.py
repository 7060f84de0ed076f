"""`llmnet serve` through the official `openai` client, over real HTTP, with a routed two-layer pipeline."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest


def user_texts(request: Any) -> list[str]:
    return [m["content"] for m in request.json["messages"] if m["role"] == "user"]


def requests_with(server: Any, marker: str) -> list[Any]:
    """The chat requests a fake model server received whose last message contains `marker`."""
    return [r for r in server.chat_requests if marker in r.json["messages"][-1]["content"]]


@pytest.fixture(scope="module")
def client(routed: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{routed.url}/v1", api_key="unused", max_retries=0, timeout=20)


def test_plain_completion_is_routed_and_sums_usage(client, routed):
    question = "How much is the pro plan? [plain-1]"
    reply = client.chat.completions.create(
        model="whatever-the-client-says",
        messages=[{"role": "user", "content": question}],
        extra_headers={"x-llmnet-trace": "1"},
    )
    assert reply.object == "chat.completion"
    assert reply.model == "routed"  # the composition file's stem
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == f"sales answer to: {question}"
    assert reply.choices[0].finish_reason == "stop"
    trace = reply.model_extra["llmnet_trace"]
    assert [hop["node"] for hop in trace["hops"]] == ["router", "sales", "output"]
    hop_usage = [hop["usage"] for hop in trace["hops"] if hop["usage"]]
    assert len(hop_usage) == 2  # the routing question and the handler's answer
    assert reply.usage.prompt_tokens == sum(u["prompt_tokens"] for u in hop_usage)
    assert reply.usage.completion_tokens == sum(u["completion_tokens"] for u in hop_usage)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert len(requests_with(routed.router, "[plain-1]")) == 1
    assert len(requests_with(routed.sales, "[plain-1]")) == 1
    assert requests_with(routed.support, "[plain-1]") == []


def test_streamed_completion(client, routed):
    question = "I want a refund for my broken lamp [stream-1]"
    stream = client.chat.completions.create(
        model="routed",
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in with_choices)
    assert text == "support saw 1 messages"
    assert len([c for c in with_choices if c.choices[0].delta.content]) >= 2  # it really streamed
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.total_tokens > 0
    support_call = requests_with(routed.support, "[stream-1]")
    assert len(support_call) == 1
    assert support_call[0].json["stream"] is True  # the handler's model was streamed, not buffered


def test_stream_without_usage_ends_with_finish_reason(client):
    stream = client.chat.completions.create(
        model="routed", messages=[{"role": "user", "content": "pricing please [stream-2]"}], stream=True
    )
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks)
        == "sales answer to: pricing please [stream-2]"
    )


def test_multi_turn_history_reaches_the_handler(client, routed):
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello, I bought a lamp."},
        {"role": "assistant", "content": "Which lamp?"},
        {"role": "user", "content": "The blue one; I want a refund [history-1]"},
    ]
    reply = client.chat.completions.create(model="routed", messages=messages)
    # the support model saw every message (and counted them in its answer)
    assert reply.choices[0].message.content == "support saw 4 messages"
    [handler_call] = requests_with(routed.support, "[history-1]")
    assert handler_call.json["messages"] == messages
    # the router was asked about the last user message only
    [router_call] = requests_with(routed.router, "[history-1]")
    assert user_texts(router_call) == [messages[-1]["content"]]
    assert "Which lamp?" not in str(router_call.json["messages"])


def test_messages_after_the_last_user_message_follow_it(client, routed):
    messages = [
        {"role": "user", "content": "My lamp is broken, I want a refund [after-1]"},
        {"role": "assistant", "content": "Sorry to hear that. Here is the refund form:"},
    ]
    reply = client.chat.completions.create(model="routed", messages=messages)
    assert reply.choices[0].message.content == "support saw 2 messages"
    [handler_call] = [r for r in routed.support.chat_requests if "[after-1]" in str(r.json["messages"])]
    assert handler_call.json["messages"] == messages
    [router_call] = [r for r in routed.router.chat_requests if "[after-1]" in str(r.json["messages"])]
    assert user_texts(router_call) == [messages[0]["content"]]


def test_sampling_parameters_reach_the_answering_model(client, routed):
    client.chat.completions.create(
        model="routed",
        messages=[{"role": "user", "content": "prices of the team plan [params-1]"}],
        temperature=0.2,
        top_p=0.5,
        max_completion_tokens=40,
        stop=["END"],
        seed=11,
        presence_penalty=0.5,  # not passed on: the composition decides
    )
    [call] = requests_with(routed.sales, "[params-1]")
    sent = call.json
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.5, 40)
    assert (sent["stop"], sent["seed"]) == (["END"], 11)
    assert "presence_penalty" not in sent
    [route] = requests_with(routed.router, "[params-1]")
    # routing keeps its own: a cap sized to the candidate names, not the caller's 40; no seed
    assert route.json.get("max_tokens") != 40 and "seed" not in route.json


def test_finish_reason_length_when_the_model_hit_max_tokens(client, routed):
    cut = {"choices": [{"message": {"content": "The team plan costs"}, "finish_reason": "length"}]}
    routed.sales.push(body=json.dumps(cut))
    reply = client.chat.completions.create(
        model="routed", messages=[{"role": "user", "content": "prices [length-1]"}], max_tokens=4
    )
    assert reply.choices[0].message.content == "The team plan costs"
    assert reply.choices[0].finish_reason == "length"
    events = [
        {"choices": [{"index": 0, "delta": {"content": "The team"}}]},
        {"choices": [{"index": 0, "delta": {"content": " plan"}, "finish_reason": "length"}]},
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    routed.sales.push(body=body, headers={"Content-Type": "text/event-stream"})
    stream = client.chat.completions.create(
        model="routed",
        messages=[{"role": "user", "content": "prices [length-2]"}],
        max_tokens=3,
        stream=True,
    )
    chunks = [chunk for chunk in stream if chunk.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The team plan"
    assert chunks[-1].choices[0].finish_reason == "length"


def test_handler_context_comes_before_the_client_system_prompt(client, routed):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What does the team plan cost? [context-1]"},
    ]
    client.chat.completions.create(model="routed", messages=messages)
    [call] = requests_with(routed.sales, "[context-1]")
    assert call.json["messages"] == [{"role": "system", "content": "You are the sales desk."}, *messages]


def test_models_endpoint(client):
    models = client.models.list()
    assert [model.id for model in models.data] == ["routed"]
    assert models.data[0].owned_by == "llmnet"
    assert client.models.retrieve("routed").id == "routed"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_backend_failure_is_an_api_error(client, routed):
    routed.sales.push(status=400)  # one bad answer from the sales model (not retried)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="routed", messages=[{"role": "user", "content": "prices [fail-1]"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "upstream_error"
    assert 'node "sales"' in caught.value.body["message"]
