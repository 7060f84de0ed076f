"""The lean client for plain http:// servers, against raw servers written for each case: what it sends,
the bodies it reads (length, chunked, until the connection ends, compressed, large and streamed), the
connections it keeps, and what each failure raises."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from llmnet_http import (
    NoAnswer,
    ReadFailed,
    ReadTimeout,
    Upstream,
    client_timeout,
    idle_connections,
    iter_lines,
)
from llmnet_testing import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (framed by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


class RawServer:
    """A TCP server on 127.0.0.1 whose connections are served by `handler`; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n" + "".join(f"{h}\r\n" for h in extra)
    return (head + "\r\n").encode() + body


@pytest.fixture
async def upstreams() -> AsyncIterator[list[Upstream]]:
    made: list[Upstream] = []
    yield made
    for upstream in made:
        await upstream.aclose()


async def post(upstream: Upstream, url: str, data: bytes = b"{}", read: float = 5) -> bytes:
    exchange = await upstream.send(
        "POST", url, headers={"Content-Type": "application/json"}, data=data,
        timeout=client_timeout(5, read), slot_wait=1,
    )  # fmt: skip
    try:
        return await exchange.read()
    finally:
        exchange.close()


async def test_keep_alive_reuses_one_connection_and_sends_a_proper_head(upstreams: list[Upstream]) -> None:
    server: RawServer

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            server.heads.append(head)
            writer.write(answer(b"got " + body))

    server = RawServer(handler)
    async with server as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        assert upstream.lean is not None
        for n in range(3):
            assert await post(upstream, origin + f"/v1/chat?n={n}", b'{"n":%d}' % n) == b'got {"n":%d}' % n
        assert server.connections == 1
        assert idle_connections(upstream) == 1
    port = origin.rsplit(":", 1)[1]
    lines = server.heads[2].decode().split("\r\n")
    assert lines[0] == "POST /v1/chat?n=2 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}" in lines
    assert "Content-Type: application/json" in lines
    assert "Content-Length: 7" in lines


async def test_chunked_until_eof_and_compressed_bodies_are_read_whole(upstreams: list[Upstream]) -> None:
    kinds = iter(["chunked", "eof", "gzip"])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        kind = next(kinds)
        if kind == "chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"hel", b"lo ", b"world"):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        elif kind == "eof":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello until the end")
        else:
            writer.write(answer(gzip.compress(b"hello compressed"), "Content-Encoding: gzip"))
        await writer.drain()
        if kind != "chunked":
            return
        await read_request(reader)  # keep the connection for a second request
        writer.write(answer(b"again"))
        await writer.drain()

    server = RawServer(handler)
    async with server as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        assert await post(upstream, origin + "/") == b"hello world"
        assert await post(upstream, origin + "/") == b"again"  # the chunked answer left the connection usable
        await asyncio.sleep(0.1)  # the server closed that connection: let the client learn it
        assert await post(upstream, origin + "/") == b"hello until the end"
        assert idle_connections(upstream) == 0  # a body that ends with its connection is not reused
        assert await post(upstream, origin + "/") == b"hello compressed"


async def test_an_interim_answer_is_skipped_for_the_final_one(upstreams: list[Upstream]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            writer.write(answer(b"final", "X-Kind: final"))
            await writer.drain()

    async with RawServer(handler) as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        for _ in range(2):  # and the connection stays usable
            exchange = await upstream.send(
                "POST", origin + "/", headers={}, data=b"{}", timeout=client_timeout(5, 5), slot_wait=1
            )
            assert (exchange.status, exchange.headers.get("x-kind"), exchange.headers.get("Link")) == (
                200,
                "final",
                None,
            )
            assert await exchange.read_and_close() == b"final"
        assert idle_connections(upstream) == 1


async def test_a_large_streamed_body_arrives_whole_in_pieces(upstreams: list[Upstream]) -> None:
    lines = [f"data: {n:07d} {'x' * 90}" for n in range(20_000)]  # ~2 MB, beyond the pause mark

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(lines), 500):
            piece = "".join(line + "\n" for line in lines[start : start + 500]).encode()
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        exchange = await upstream.send(
            "POST", origin + "/", headers={}, data=b"{}", timeout=client_timeout(5, 5), slot_wait=1
        )
        received = []
        async for line in iter_lines(exchange):
            received.append(line)
            if len(received) == 1:
                await asyncio.sleep(0.2)  # a slow reader: the server is paused meanwhile
        exchange.close()
        assert received == lines
        assert idle_connections(upstream) == 1


async def test_silence_before_the_headers_and_within_the_body_is_a_read_timeout(
    upstreams: list[Upstream],
) -> None:
    stages = iter(["before", "within"])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if next(stages) == "within":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart")
            await writer.drain()
        await asyncio.sleep(5)

    async with RawServer(handler) as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        with pytest.raises(ReadTimeout, match="no answer within the read timeout"):
            await post(upstream, origin + "/", read=0.2)
        with pytest.raises(ReadTimeout, match="no data within the read timeout"):
            await post(upstream, origin + "/", read=0.2)
        assert idle_connections(upstream) == 0
        assert upstream.slots.free == 256


async def test_a_reused_connection_times_out_by_its_latest_requests_read_timeout(
    upstreams: list[Upstream],
) -> None:
    # each connection keeps one timer while requests follow one another: a later request with a shorter
    # read timeout must not wait for the earlier request's (longer) one
    answered = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        while True:
            await read_request(reader)
            if answered == 2:
                await asyncio.sleep(30)  # the third request is never answered
            answered += 1
            writer.write(answer(b"ok"))

    server = RawServer(handler)
    async with server as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        assert await post(upstream, origin + "/", read=30) == b"ok"
        assert await post(upstream, origin + "/", read=30) == b"ok"
        with pytest.raises(ReadTimeout, match="no answer within the read timeout"):  # its own 0.3 s
            await asyncio.wait_for(post(upstream, origin + "/", read=0.3), 10)
        assert server.connections == 1
        assert idle_connections(upstream) == 0


async def test_a_connection_cut_before_or_during_the_answer(upstreams: list[Upstream]) -> None:
    stages = iter(["close", "garbage", "half"])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        stage = next(stages)
        if stage == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        elif stage == "half":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async with RawServer(handler) as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        with pytest.raises(NoAnswer, match=r"^connection closed before an answer$"):
            await post(upstream, origin + "/")
        with pytest.raises(NoAnswer, match="not valid HTTP"):
            await post(upstream, origin + "/")
        with pytest.raises(ReadFailed, match="closed in the middle of the answer"):
            await post(upstream, origin + "/")
        assert upstream.slots.free == 256


async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot(
    upstreams: list[Upstream],
) -> None:
    asked = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        asked.set()
        if b"/part" in head:  # the headers and part of the body, never the rest
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
            await writer.drain()
        await asyncio.sleep(5)

    async with RawServer(handler) as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        for path in ("/silent", "/part"):  # cancelled while waiting for the headers, then for the body
            asked.clear()
            waiting = asyncio.create_task(post(upstream, origin + path))
            await asyncio.wait_for(asked.wait(), 5)  # the request reached the server
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.sleep(0.05)  # the closed connection's end reaches the pool
            assert upstream.slots.free == 256
            assert upstream.lean is not None and not upstream.lean.open and idle_connections(upstream) == 0


async def test_an_idle_connection_the_server_closed_is_replaced(upstreams: list[Upstream]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"once"))
        await writer.drain()  # then close: the client keeps the connection until it learns

    server = RawServer(handler)
    async with server as origin:
        upstream = Upstream(origin)
        upstreams.append(upstream)
        assert await post(upstream, origin + "/") == b"once"
        await asyncio.sleep(0.1)
        assert idle_connections(upstream) == 0
        assert await post(upstream, origin + "/") == b"once"
        assert server.connections == 2


def test_tls_proxies_and_credentials_go_through_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert Upstream("http://localhost:8080").lean is not None
    assert Upstream("https://api.example.com").lean is None
    assert Upstream("http://user:pw@models.example").lean is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert Upstream("http://models.example:8000").lean is None


#: both clients: the lean one, and aiohttp (which serves an origin with credentials, TLS or a proxy)
CLIENTS = ["lean", "aiohttp"]


def upstream_for(origin: str, client: str) -> Upstream:
    """The `Upstream` of `origin` through `client` (credentials in the URL send it through aiohttp)."""
    upstream = Upstream(origin if client == "lean" else origin.replace("http://", "http://user:pw@"))
    assert (upstream.lean is not None) == (client == "lean")
    return upstream


@pytest.mark.parametrize("client", CLIENTS)
async def test_either_client_reads_whole_and_streamed_answers_alike(
    upstreams: list[Upstream], client: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b'{"whole": true}', "X-Kind: whole", "Retry-After: 3"))
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"data: one\n\n", b"data: t", b"wo\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as origin:
        upstream = upstream_for(origin, client)
        upstreams.append(upstream)
        exchange = await upstream.send(
            "POST", origin + "/v1", headers={}, data=b"{}", timeout=client_timeout(5, 5), slot_wait=1
        )
        assert (exchange.status, exchange.headers.get("x-kind"), exchange.headers.get("retry-after")) == (
            200,
            "whole",
            "3",
        )
        assert await exchange.read_and_close() == b'{"whole": true}'
        exchange = await upstream.send(
            "POST", origin + "/v1", headers={}, data=b"{}", timeout=client_timeout(5, 5), slot_wait=1
        )
        lines = [line async for line in iter_lines(exchange)]
        exchange.close()
        assert lines == ["data: one", "", "data: two", ""]
        assert idle_connections(upstream) == 1 and upstream.slots.free == 256


@pytest.mark.parametrize("client", CLIENTS)
async def test_either_client_tells_its_failures_alike(upstreams: list[Upstream], client: str) -> None:
    stages = iter(["silent", "part", "cut"])

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        stage = next(stages)
        if stage != "silent":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
            await writer.drain()
        if stage != "cut":
            await asyncio.sleep(5)

    async with RawServer(handler) as origin:
        upstream = upstream_for(origin, client)
        upstreams.append(upstream)
        with pytest.raises(ReadTimeout):  # nothing came within the read timeout
            await post(upstream, origin + "/", read=0.2)
        with pytest.raises(ReadTimeout):  # the body stopped coming
            await post(upstream, origin + "/", read=0.2)
        with pytest.raises(ReadFailed):  # the connection closed in the middle of the body
            await post(upstream, origin + "/")
        assert upstream.slots.free == 256
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    refused = upstream_for(nowhere, client)
    upstreams.append(refused)
    with pytest.raises(NoAnswer, match=r"^connection refused$"):
        await post(refused, nowhere + "/")
