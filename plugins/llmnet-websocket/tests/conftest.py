"""A real WebSocket peer on 127.0.0.1 (the `websockets` server), scripted per test."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

#: a behaviour's answer that makes the peer close the connection (code 1011) instead of replying;
#: the tests spell it out, since importing from a conftest module is not portable
CLOSE = "\x00close"

Behaviour = Callable[[str], Any]


class WsPeer:
    """Records connections, their request headers and every message; answers with `behaviour(message)`.

    The behaviour returns the reply text, None for no reply, or CLOSE; it may be async.
    """

    def __init__(self, behaviour: Behaviour, **serve_options: Any) -> None:
        self.behaviour = behaviour
        self.serve_options = serve_options
        self.connections = 0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.received: list[str] = []
        self.release = asyncio.Event()  # set at teardown: slow behaviours wait on it
        self._arrived = asyncio.Condition()
        self._server: Any = None
        self._open: set[ServerConnection] = set()

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/hooks"

    async def start(self) -> WsPeer:
        self._server = await serve(self._handle, "127.0.0.1", 0, **self.serve_options)
        return self

    async def stop(self) -> None:
        self.release.set()
        self._server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._server.wait_closed()

    async def close_connections(self) -> None:
        """Close every open connection from the server's side, as a peer restarting or idling out would."""
        await asyncio.gather(*(connection.close(1001, "going away") for connection in self._open))

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[str]:
        """Wait (bounded) until `count` messages have arrived; returns them all."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        self._open.add(connection)
        self.paths.append(connection.request.path)
        self.headers.append({k.lower(): v for k, v in connection.request.headers.raw_items()})
        try:
            async for message in connection:
                text = message if isinstance(message, str) else message.decode()
                async with self._arrived:
                    self.received.append(text)
                    self._arrived.notify_all()
                reply = self.behaviour(text)
                if inspect.isawaitable(reply):
                    reply = await reply
                if reply == CLOSE:
                    await connection.close(1011, "peer gave up")
                    return
                if reply is not None:
                    await connection.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self._open.discard(connection)


@pytest.fixture
async def ws_peer() -> AsyncIterator[Callable[..., Awaitable[WsPeer]]]:
    """Start WebSocket peers: `peer = await ws_peer(lambda message: reply, **serve_options)`; they are
    stopped after the test."""
    peers: list[WsPeer] = []

    async def start(behaviour: Behaviour, **serve_options: Any) -> WsPeer:
        peer = await WsPeer(behaviour, **serve_options).start()
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        await peer.stop()
