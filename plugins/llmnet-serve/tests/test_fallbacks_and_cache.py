"""`llmnet serve` with a node that has a fallback model and a response cache, through the official `openai`
client: a stream whose model fails before its first piece is answered by the fallback unseen; one that
breaks after it ends in an error event, never an answer spliced from two models; `/status` says which
model answered each node, how often a fallback did, and how often the cache."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest


def last_user(request: dict[str, Any]) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


@pytest.fixture(scope="module")
def served(fake_model, start_serve, module_dir) -> Any:
    primary = fake_model("partial answer here", name="primary")
    backup = fake_model(lambda r: f"backup answers {last_user(r)}", name="backup")
    composition = {
        "models": {
            "primary": {"type": "external", "url": primary.url, "retries": 0},
            "backup": {"type": "external", "url": backup.url},
        },
        "settings": {"cache": {"ttl": 300}, "cooldown": 0},  # each request tries the primary first
        "architecture": [
            {"name": "chat", "layer": 0, "model": "primary", "fallback": ["backup"], "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "fallbacks.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    server = start_serve(path)
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=20)
    return primary, backup, server.url, client


def asked(server: Any, question: str) -> list[Any]:
    return [r for r in server.chat_requests if last_user(r.json) == question]


def test_a_stream_whose_model_fails_before_its_first_piece_falls_back_unseen(served):
    primary, backup, _, client = served
    primary.push(status=503)
    question = "what is new? [before-1]"
    stream = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": question}], stream=True
    )
    chunks = [chunk for chunk in stream if chunk.choices]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == f"backup answers {question}"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(asked(primary, question)) == 1
    [sent] = asked(backup, question)
    assert sent.json["stream"] is True  # the backup's answer was streamed through, not buffered


def test_a_stream_that_breaks_after_its_first_piece_ends_in_an_error_event(served):
    primary, backup, _, client = served
    primary.push(stream_fault="truncated")
    question = "tell me more [after-1]"
    stream = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": question}], stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "partial answer here"  # the primary's words only, nothing spliced on
    assert 'node "chat"' in info.value.message and "ended before the server said" in info.value.message
    assert asked(backup, question) == []


def ask(client: openai.OpenAI, question: str) -> Any:
    """A plain completion with the trace; returns the answer and the first hop of the trace."""
    reply = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": question}], extra_headers={"x-llmnet-trace": "1"}
    )
    return reply.choices[0].message.content, reply.model_extra["llmnet_trace"]["hops"][0]


async def test_status_says_which_model_answered_and_counts_fallbacks_and_hits(served, server_status):
    primary, _, url, client = served
    primary.push(status=500)
    text, hop = ask(client, "count me [status-1]")
    assert text == "backup answers count me [status-1]"
    assert hop["answered_by"] == "backup" and hop["fallbacks"][0]["model"] == "primary"
    async with httpx.AsyncClient(timeout=10) as http:
        before = (await server_status(http, url))["nodes"]["chat"]
        assert before["answered_by"] == "backup" and before["fallback_answers"] >= 1
        first, _ = ask(client, "and me [status-2]")  # the primary is back: it answers, and is kept
        again, hop = ask(client, "and me [status-2]")
        assert first == again == "partial answer here" and hop["cache"] == "hit"
        after = (await server_status(http, url))["nodes"]["chat"]
    assert after["answered_by"] == "primary"
    assert after["cache_hits"] - before["cache_hits"] == 1
    assert after["fallback_answers"] == before["fallback_answers"]
