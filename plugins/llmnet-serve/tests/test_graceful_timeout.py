"""A stop that outlasts --graceful-timeout: every client still gets an OpenAI-style answer (a 503 JSON
error, or an SSE error event that ends its stream), and the log has no traceback."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from typing import Any

import httpx
import pytest

CHAT = "/v1/chat/completions"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def stuck_server(fake_model, slow_peer, start_serve, module_dir) -> Any:
    """`llmnet serve --graceful-timeout 0.3`: "stuck" waits 30 s for its model, anything else streams
    from the slow peer for 15 s; both outlast the grace period."""
    stuck = fake_model("too late", name="stuck", delay=30.0)
    composition = {
        "models": {
            "stuck": {"type": "external", "url": stuck.url, "retries": 0},
            "peer": {"type": "external", "url": slow_peer.url, "retries": 0},
        },
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": [1]},
            {
                "name": "stuck",
                "layer": 1,
                "model": "stuck",
                "if": '$INPUT == "stuck"',
                "output-to": ["output"],
            },
            {"name": "peer", "layer": 1, "model": "peer", "if": '$INPUT != "stuck"', "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "stuck.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    return start_serve(path, "--graceful-timeout", "0.3")


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends on `sock` until it closes the connection (bounded by its timeout)."""
    data = b""
    with sock:
        while chunk := sock.recv(65536):
            data += chunk
    return data


async def until(condition: Any, deadline: float = 20.0) -> None:
    """Wait for `condition()` to hold (a generous deadline against a hang, not a measure of speed)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        assert loop.time() < end, "the condition never held"
        await asyncio.sleep(0.01)


def expected_error(error: dict[str, Any]) -> None:
    assert error["type"] == "server_error"
    assert error["code"] == "server_stopping"
    assert error["message"] == "the server stopped before this request finished (--graceful-timeout 0.3 s)"


async def test_clients_get_an_error_when_the_grace_period_runs_out(stuck_server, server_status):
    import openai

    server = stuck_server
    port = int(server.url.rsplit(":", 1)[1])
    stream_client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=20)
    stream = await stream_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "stream"}], stream=True
    )
    received: list[str] = []

    async def read_stream() -> None:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    reader = asyncio.create_task(read_stream())
    async with httpx.AsyncClient(timeout=20) as client:
        waiting = asyncio.create_task(client.post(f"{server.url}{CHAT}", json=chat("stuck")))
        await server_status(client, server.url, lambda d: d["requests"]["in_flight"] == 2)
        # a client still sending its body when the server stops
        slow = socket.create_connection(("127.0.0.1", port), timeout=15)
        slow.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode())
        await server_status(client, server.url, lambda d: d["requests"]["total"] >= 3)
        await until(lambda: bool(received))  # the stream has begun: it must end with an SSE error event
        server.process.send_signal(signal.SIGTERM)
        reply = await waiting
    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/json"
    expected_error(reply.json()["error"])

    with pytest.raises(openai.APIError) as raised:
        await reader
    assert received and received[0] == "Hello"  # the stream had begun
    expected_error(raised.value.body)
    await stream_client.close()

    data = await asyncio.to_thread(read_all, slow)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    expected_error(json.loads(body)["error"])

    assert await asyncio.to_thread(server.wait) == 0
    assert "llmnet serve: stopped" in server.output
    assert "Traceback" not in server.output
    assert "Exception in ASGI application" not in server.output
