"""Long-lived connections to one WebSocket peer, shared by every request of a pipeline.

Request/reply exchanges use a small pool: each connection carries one send/receive pair at a time, so
replies can never be mixed up. Observe hooks send on a separate connection whose incoming messages are
read and dropped, so that a peer answering them never leaves a stale reply for the next exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

#: seconds the close handshake may take when the pipeline closes or a connection is dropped
CLOSE_TIMEOUT = 2.0


class PeerTimeout(Exception):
    """The peer sent no reply in time (the connection was dropped, since its reply may still come)."""


class Peer:
    """Connections to one URL with one set of headers; `opened` counts the connections made."""

    def __init__(self, url: str, headers: Mapping[str, str], max_connections: int) -> None:
        self.url = url
        self.headers = dict(headers)
        self.opened = 0
        self._idle: list[Any] = []
        self._live: set[Any] = set()
        self._slots = asyncio.Semaphore(max_connections)
        self._observer: Any = None
        self._observer_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def exchange(self, message: str, timeout: float) -> str | bytes:
        """Send `message` and return the peer's next message; a closed idle connection is replaced once."""
        from websockets.exceptions import ConnectionClosed

        async with self._slots:
            connection, reused = self._take_idle(), True
            if connection is None:
                connection, reused = await self._open(timeout), False
            try:
                reply = await self._round_trip(connection, message, timeout)
            except ConnectionClosed:
                self._drop(connection)
                if not reused:
                    raise
                connection = await self._open(timeout)  # the peer closed an idle connection: once more
                try:
                    reply = await self._round_trip(connection, message, timeout)
                except BaseException:
                    self._drop(connection)
                    raise
            except BaseException:  # a timeout or cancellation leaves a reply in flight: never reuse it
                self._drop(connection)
                raise
            self._idle.append(connection)
            return reply

    async def send(self, message: str, timeout: float) -> None:
        """Send `message` without waiting for an answer (observe hooks)."""
        from websockets.exceptions import ConnectionClosed

        connection = await self._observer_connection(timeout)
        try:
            await connection.send(message)
        except ConnectionClosed:
            self._drop(connection)
            connection = await self._observer_connection(timeout)
            await connection.send(message)

    async def aclose(self) -> None:
        """Close every connection (the close handshakes run concurrently, each bounded)."""
        self._closed = True
        connections, self._live, self._idle, self._observer = list(self._live), set(), [], None
        results = [connection.close() for connection in connections]
        await asyncio.gather(*results, *list(self._tasks), return_exceptions=True)

    # -- internals -------------------------------------------------------------------------------------

    async def _round_trip(self, connection: Any, message: str, timeout: float) -> str | bytes:
        await connection.send(message)
        try:
            async with asyncio.timeout(timeout):
                return await connection.recv()
        except TimeoutError:
            raise PeerTimeout() from None

    def _take_idle(self) -> Any:
        from websockets.protocol import State

        while self._idle:
            connection = self._idle.pop()
            if connection.state is State.OPEN:
                return connection
            self._drop(connection)
        return None

    async def _open(self, timeout: float) -> Any:
        from websockets.asyncio.client import connect

        if self._closed:
            raise RuntimeError("the pipeline is closed")
        connection = await connect(
            self.url,
            additional_headers=self.headers or None,
            open_timeout=timeout,
            close_timeout=CLOSE_TIMEOUT,
        )
        self.opened += 1
        self._live.add(connection)
        return connection

    async def _observer_connection(self, timeout: float) -> Any:
        from websockets.protocol import State

        async with self._observer_lock:
            if self._observer is None or self._observer.state is not State.OPEN:
                if self._observer is not None:
                    self._drop(self._observer)
                self._observer = await self._open(timeout)
                self._spawn(_discard_incoming(self._observer))
            return self._observer

    def _drop(self, connection: Any) -> None:
        """Forget a connection and close it in the background (this may run while being cancelled)."""
        self._live.discard(connection)
        if connection is self._observer:
            self._observer = None
        self._spawn(connection.close())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _discard_incoming(connection: Any) -> None:
    """Read and drop what the peer sends on the observe connection, until it closes."""
    with contextlib.suppress(Exception):
        async for _ in connection:
            pass
