"""`POST /v1/completions`, the legacy text completion API, through the official `openai` client: the prompt
is routed as a user message and answered as `text_completion` objects, whole and streamed; what a
pipeline cannot honour (`echo`, `suffix`, `best_of`, `logprobs`) is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import openai
import pytest


@pytest.fixture(scope="module")
def client(routed: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{routed.url}/v1", api_key="unused", max_retries=0, timeout=20)


def test_a_prompt_is_routed_and_answered_as_a_text_completion(client, routed):
    reply = client.completions.create(
        model="routed", prompt="How much is the pro plan? [legacy-1]", max_tokens=30
    )
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-")
    assert reply.model == "routed"
    [choice] = reply.choices
    assert choice.text == "sales answer to: How much is the pro plan? [legacy-1]"
    assert choice.finish_reason == "stop" and choice.index == 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    [call] = [r for r in routed.sales.chat_requests if "[legacy-1]" in str(r.json["messages"])]
    assert call.json["max_tokens"] == 30
    assert call.json["messages"][-1] == {"role": "user", "content": "How much is the pro plan? [legacy-1]"}


def test_a_streamed_text_completion(client):
    stream = client.completions.create(
        model="routed",
        prompt=["I want a refund [legacy-2]"],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(chunk.object == "text_completion" for chunk in chunks)
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert "".join(c.choices[0].text for c in with_choices) == "support saw 1 messages"
    assert len([c for c in with_choices if c.choices[0].text]) >= 2  # it really streamed
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"echo": True}, "echo"),
        ({"suffix": "end"}, "suffix"),
        ({"best_of": 2}, "best_of"),
        ({"logprobs": 2}, "logprobs"),
    ],
)
def test_what_a_pipeline_cannot_honour_is_a_400(client, fields, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="routed", prompt="hi", **fields)
    assert refused.value.body["param"] == param
    with pytest.raises(openai.BadRequestError) as missing:
        client.completions.create(model="routed", prompt=["one", "two"])
    assert missing.value.body["param"] == "prompt"
