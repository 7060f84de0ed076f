"""An Ollama answer is whole only when an object with `"done": true` came, streamed or not.

Answers cut short by the real `FakeOllamaServer` (a clean close after some tokens, a TCP reset on a body
without a length, a lone `done: false` object) must be errors naming the URL, never an answer that looks
complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llmnet_ollama.backend import OllamaBackend
from llmnet_testing import FakeOllamaServer

from llmnet_core import BackendError, ChatRequest, Message, ModelSpec, Resources

PIECE = {"model": "llama3.2", "message": {"role": "assistant", "content": "partial"}, "done": False}


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(reply="partial answer here") as srv:
        yield srv


def make(resources: Resources, url: str) -> OllamaBackend:
    spec = ModelSpec(
        name="m", backend="ollama", url=url, wire_model="llama3.2", options={"retry-backoff": 0.01}
    )
    return OllamaBackend(spec, resources)


def ask() -> ChatRequest:
    return ChatRequest(messages=(Message("user", "hi"),))


async def collect(backend: OllamaBackend) -> list[Any]:
    return [chunk async for chunk in backend.stream(ask())]


def assert_cut(error: BackendError, server: FakeOllamaServer) -> None:
    url = f"{server.url}/api/chat"
    assert error.message == f"the answer from {url} ended before Ollama said it was done"
    assert error.url == url
    assert "ollama serve" in (error.hint or "")


async def test_tokens_then_a_clean_close_are_an_error(server, resources) -> None:
    server.push(stream_fault="truncated")
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url))
    assert_cut(info.value, server)


async def test_tokens_then_a_reset_are_an_error(server, resources) -> None:
    server.push(stream_fault="reset")  # a body without a length: the reset may read as its end
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url))
    url = f"{server.url}/api/chat"
    ended = f"the answer from {url} ended before Ollama said it was done"
    broke = f"the connection to {url} broke in the middle of the answer"
    assert info.value.message in (ended, broke)
    assert info.value.url == url


async def test_a_lone_unfinished_object_is_not_a_streamed_answer(server, resources) -> None:
    server.push(body=json.dumps(PIECE))  # application/json: read as one whole object
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url))
    assert_cut(info.value, server)


async def test_a_lone_unfinished_object_is_not_a_whole_answer(server, resources) -> None:
    server.push(body=json.dumps(PIECE))
    with pytest.raises(BackendError) as info:
        await make(resources, server.url).complete(ask())
    assert_cut(info.value, server)


async def test_the_backend_stays_usable_after_a_cut_stream(server, resources) -> None:
    backend = make(resources, server.url)
    server.push(stream_fault="truncated")
    with pytest.raises(BackendError):
        await collect(backend)
    chunks = await collect(backend)
    assert "".join(c.text for c in chunks) == "partial answer here"
    assert chunks[-1].finish_reason == "stop"


def test_an_unknown_stream_fault_is_refused(server) -> None:
    with pytest.raises(ValueError, match="unknown stream_fault 'empty-choices'"):
        server.push(stream_fault="empty-choices")
