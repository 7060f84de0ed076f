"""A streamed answer is whole only when the server says so: a chunk with a `finish_reason`, or `[DONE]`.

Streams cut short by the real `FakeOpenAIServer` (a clean close after some pieces, a TCP reset on a body
without a length, nothing but `[DONE]`, nothing but empty `choices`) must be errors naming the URL, never
an answer that looks complete.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from llmnet_http import idle_connections
from llmnet_openai.backend import OpenAIBackend
from llmnet_testing import FakeOpenAIServer

from llmnet_core import BackendError, ChatRequest, Message, ModelSpec, Resources

SSE = {"Content-Type": "text/event-stream"}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply="partial answer here") as srv:
        yield srv


def make(resources: Resources, url: str) -> OpenAIBackend:
    spec = ModelSpec(name="m", backend="openai-api", url=url, options={"retry-backoff": 0.01})
    return OpenAIBackend(spec, resources)


async def collect(backend: OpenAIBackend) -> list[Any]:
    request = ChatRequest(messages=(Message("user", "hi"),))
    return [chunk async for chunk in backend.stream(request)]


async def test_pieces_then_a_clean_close_are_an_error(server, resources) -> None:
    server.push(stream_fault="truncated")
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url))
    url = f"{server.url}/v1/chat/completions"
    assert info.value.message == (
        f"the answer from {url} ended before the server said it was complete (no finish_reason, no [DONE])"
    )
    assert info.value.url == url


async def test_pieces_then_a_reset_are_an_error(server, resources) -> None:
    server.push(stream_fault="reset")  # a body without a length: the reset may read as its end
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url))
    url = f"{server.url}/v1/chat/completions"
    ended = f"the answer from {url} ended before the server said it was complete"
    broke = f"the connection to {url} broke in the middle of the answer"
    assert info.value.message.startswith((ended, broke))
    assert info.value.url == url


@pytest.mark.parametrize("fault", ["only-done", "empty-choices"])
async def test_a_stream_without_any_choice_is_an_error(server, resources, fault: str) -> None:
    server.push(stream_fault=fault)
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url))
    url = f"{server.url}/v1/chat/completions"
    assert info.value.message == f"{url} sent a chat completion stream with no answer in it (no choices)"
    assert info.value.url == url


async def test_a_finish_reason_without_done_is_whole(server, resources) -> None:
    body = (
        'data: {"choices":[{"index":0,"delta":{"content":"all"}}]}\n\n'
        'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    )
    server.push(body=body, headers=SSE)
    chunks = await collect(make(resources, server.url))
    assert "".join(c.text for c in chunks) == "all"
    assert chunks[-1].finish_reason == "stop"


async def test_done_without_a_finish_reason_is_whole(server, resources) -> None:
    body = 'data: {"choices":[{"index":0,"delta":{"content":"all"}}]}\n\ndata: [DONE]\n\n'
    server.push(body=body, headers=SSE)
    chunks = await collect(make(resources, server.url))
    assert "".join(c.text for c in chunks) == "all"


async def test_an_empty_answer_with_a_finish_reason_is_whole(server, resources) -> None:
    body = 'data: {"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":"stop"}]}\n\n'
    server.push(body=body, headers=SSE)
    chunks = await collect(make(resources, server.url))
    assert "".join(c.text for c in chunks) == "" and chunks[-1].finish_reason == "stop"


async def test_the_backend_stays_usable_after_a_cut_stream(server, resources) -> None:
    backend = make(resources, server.url)
    server.push(stream_fault="truncated")
    with pytest.raises(BackendError):
        await collect(backend)
    chunks = await collect(backend)
    assert "".join(c.text for c in chunks) == "partial answer here"
    assert idle_connections(backend._upstream()) == 1


def test_an_unknown_stream_fault_is_refused(server) -> None:
    with pytest.raises(ValueError, match="unknown stream_fault 'cut'"):
        server.push(stream_fault="cut")


def test_the_reset_fault_aborts_a_body_without_a_length(server) -> None:
    """The fake's "reset" really is a TCP reset after an unframed body, not a clean close."""
    body = b'{"messages": [{"role": "user", "content": "hi"}], "stream": true}'
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    server.push(stream_fault="reset")
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    head_part = received.split(b"\r\n\r\n", 1)[0].lower()
    assert b"content-length" not in head_part and b"transfer-encoding" not in head_part
