"""Clients that send slowly, over raw sockets: a body that has not arrived holds no --max-concurrent slot,
a body or headers that do not arrive within --read-timeout get an HTTP 408 in OpenAI-style JSON, and
headers without end a 431."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import httpx
import pytest

CHAT = "/v1/chat/completions"
#: the length slow clients announce, and send only a few bytes of
DECLARED = 100_000


def one_node(url: str) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": url}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.fixture(scope="module")
def composition(fake_model, module_dir) -> Any:
    path = module_dir / "slow-clients.json"
    path.write_text(json.dumps(one_node(fake_model("an answer").url)), encoding="utf-8")
    return path


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def slow_body(port: int) -> socket.socket:
    """A connection that sends a chat request's headers (Content-Length: DECLARED) and a few bytes; the
    server closes it after its response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {DECLARED}"
    )
    sock.sendall(head.encode() + b"\r\n\r\n" + b'{"mess')
    return sock


def padded_rest() -> bytes:
    """The rest of a slow client's body: a valid request, padded with spaces to DECLARED bytes."""
    whole = b'{"messages": [{"role": "user", "content": "at last"}]}'
    return whole[len(b'{"mess') :] + b" " * (DECLARED - len(whole))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response on `sock`, read until the server closes it (the
    socket's timeout bounds the wait)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def assert_408(status: int, headers: dict[str, str], body: bytes, late: str) -> None:
    assert status == 408, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "request_timeout"
    assert error["message"] == f"{late} did not arrive within 0.5 s (--read-timeout)"


async def test_slow_bodies_hold_no_slot(composition, start_serve, server_status):
    server = start_serve(composition, "--max-concurrent", "2")
    slow = [slow_body(port_of(server.url)) for _ in range(6)]
    async with httpx.AsyncClient(timeout=20) as client:
        status = await server_status(client, server.url, lambda d: d["requests"]["total"] >= 6)
        assert status["requests"]["in_flight"] == 0
        for _ in range(3):
            reply = await client.post(
                f"{server.url}{CHAT}", json={"messages": [{"role": "user", "content": "hi"}]}
            )
            assert reply.status_code == 200, reply.text
    slow[0].sendall(padded_rest())  # a slow body that arrives in time is served like any other
    status_code, _, body = read_response(slow[0])
    assert status_code == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == "an answer"
    for sock in slow:
        sock.close()


async def test_a_body_that_does_not_arrive_in_time_is_408_and_frees_its_slot(
    composition, start_serve, server_status
):
    server = start_serve(composition, "--max-concurrent", "1", "--read-timeout", "0.5")
    slow = slow_body(port_of(server.url))
    assert_408(*read_response(slow), "the request body")
    slow.close()
    async with httpx.AsyncClient(timeout=20) as client:
        status = await server_status(client, server.url)
        assert status["requests"]["rejected"] == 1
        reply = await client.post(
            f"{server.url}{CHAT}", json={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert reply.status_code == 200, reply.text


def test_headers_that_do_not_arrive_in_time_are_408(composition, start_serve):
    server = start_serve(composition, "--read-timeout", "0.5")
    port = port_of(server.url)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as partial:
        partial.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Le".encode())
        assert_408(*read_response(partial), "the request's headers")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as silent:
        assert silent.recv(1024) == b""  # a connection that never sends a request is closed, unanswered
    assert "Traceback" not in server.output


def test_headers_without_end_are_431(composition, start_serve):
    server = start_serve(composition)
    with socket.create_connection(("127.0.0.1", port_of(server.url)), timeout=15) as endless:
        endless.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\n".encode())
        with contextlib.suppress(OSError):  # the server may close while headers are still being sent
            for _ in range(200):
                endless.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        status, headers, body = read_response(endless)
    assert status == 431, body
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "headers_too_large")
    assert error["message"] == "the request's headers are larger than 65536 bytes"
