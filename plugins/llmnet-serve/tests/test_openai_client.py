"""`llmnet serve` through the official `openai` client, over real HTTP, with a routed two-layer pipeline."""

from __future__ import annotations

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
