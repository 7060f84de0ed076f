"""`llmnet serve` in front of a model whose streamed answer ends before it is whole: the client gets an
error (an SSE error event once text was sent, else an HTTP error), never `finish_reason` and `[DONE]`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

CHAT = "/v1/chat/completions"
REQUEST = {"model": "any", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture(scope="module")
def cut(fake_model, start_serve, module_dir) -> Any:
    """`llmnet serve` with one node, "chat", answered by a fake model whose streams the tests cut."""
    model = fake_model("partial answer here", name="cut")
    composition = {
        "models": {"m": {"type": "external", "url": model.url, "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "cut.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    return model, start_serve(path).url


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=20) as http:
        yield http


def events(reply: httpx.Response) -> list[str]:
    return [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]


async def test_pieces_then_a_clean_close_end_in_an_error_event(client, cut):
    model, url = cut
    model.push(stream_fault="truncated")
    reply = await client.post(f"{url}{CHAT}", json=REQUEST)
    assert reply.status_code == 200  # the first words were already sent
    sent = events(reply)
    assert "[DONE]" not in sent
    chunks = [json.loads(event) for event in sent]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == "partial answer here"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    error = chunks[-1]["error"]
    assert error["type"] == "upstream_error" and error["code"] == "backend_error"
    assert error["message"].startswith(f'node "chat": the answer from {model.url}/v1/chat/completions ended')


@pytest.mark.parametrize("fault", ["only-done", "empty-choices"])
async def test_a_stream_with_no_answer_is_an_http_error(client, cut, fault: str):
    model, url = cut
    model.push(stream_fault=fault)
    reply = await client.post(f"{url}{CHAT}", json=REQUEST)
    assert reply.status_code == 502, reply.text  # nothing was sent yet: still a real HTTP error
    error = reply.json()["error"]
    assert error["type"] == "upstream_error" and error["code"] == "backend_error"
    assert error["message"].startswith(f'node "chat": {model.url}/v1/chat/completions sent')
    assert "no choices" in error["message"]


async def test_a_whole_stream_still_ends_with_stop_and_done(client, cut):
    _, url = cut
    reply = await client.post(f"{url}{CHAT}", json=REQUEST)
    sent = events(reply)
    assert sent[-1] == "[DONE]"
    assert json.loads(sent[-2])["choices"][0]["finish_reason"] == "stop"
