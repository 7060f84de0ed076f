"""A lean HTTP/1.1 client for plain `http://` servers: keep-alive connections as asyncio protocols, the
answer parsed by httptools (llhttp), one request at a time per connection.

Why not aiohttp everywhere: against the same local server, an aiohttp POST cost ~110 µs of CPU and this
client ~12 µs (benchmarks/serve.py, `--profile`), and a local model server (llama.cpp, Ollama, vLLM) is
where a pipeline's own overhead shows. What it leaves out (TLS, proxies, credentials in the URL) is left
to aiohttp by `Upstream`: those servers are remote, where the network dwarfs the client.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from typing import Any

from .text import connect_reason

#: bytes of a streamed answer kept unread before the server is asked to pause (flow control)
HIGH_WATER = 256 * 1024


class NoAnswer(Exception):
    """No answer came, so the request may be sent again: the connection failed or closed first. The
    message is the reason ("connection refused"); `timed_out` when no connection came in time."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class ReadTimeout(Exception):
    """The server sent nothing for the read timeout (before the headers or within the body)."""


class ReadFailed(Exception):
    """The answer could not be read to its end: the connection broke, or what came is not HTTP."""


class Headers(dict[str, str]):
    """Response headers by lower-case name; `get` takes any case."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class Answer:
    """One response as it arrives: status and headers, then the body in pieces (decoded when the server
    compressed it), its end, or the failure that cut it."""

    __slots__ = (
        "_decoder", "_done", "_error", "_pieces", "_size", "_streamed", "_waiter",
        "conn", "headers", "status",
    )  # fmt: skip

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.status = 0
        self.headers = Headers()
        self._pieces: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: Any = None
        self._streamed = False  # read in pieces: the server is paused while too much waits unread

    @property
    def complete(self) -> bool:
        """The whole body arrived (the connection may be reused)."""
        return self._done and self._error is None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        """Until something changes: headers, a piece, the end, a failure."""
        self._waiter = waiter = self.conn.loop.create_future()
        await waiter

    def feed(self, piece: bytes) -> None:
        if self._decoder is not None:
            piece = self._decoder.decompress(piece)
        if piece:
            self._pieces.append(piece)
            self._size += len(piece)
            if self._streamed and self._size > HIGH_WATER:
                self.conn.pause()
        self._wake()

    def finish(self) -> None:
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._pieces.append(rest)
        self._done = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self._done:
            self._done = True
            self._error = error
        self._wake()

    def _take(self) -> bytes:
        piece = self._pieces.popleft()
        self._size -= len(piece)
        if self._size <= HIGH_WATER:
            self.conn.resume()
        return piece

    async def head(self) -> None:
        """Until the status and headers came. Raises what cut the answer first (NoAnswer, ReadTimeout)."""
        while not self.status and not self._done:
            await self.wait()
        if not self.status:
            await self.read()

    async def read(self) -> bytes:
        """The whole body. Raises ReadTimeout or ReadFailed."""
        self._streamed = False
        self.conn.resume()
        while not self._done:
            await self.wait()
        if self._error is not None:
            raise self._error
        body = b"".join(self._pieces)
        self._pieces.clear()
        self._size = 0
        return body

    async def next_piece(self) -> bytes | None:
        """The next piece of the body as it came, None at its end. Raises ReadTimeout or ReadFailed."""
        self._streamed = True
        while True:
            if self._pieces:
                return self._take()
            if self._done:
                if self._error is not None:
                    raise self._error
                return None
            await self.wait()


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request()` sends a request and gives its `Answer` once the headers
    came. Silence for the read timeout fails the answer with ReadTimeout and closes the connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: Pool) -> None:
        import httptools

        self.loop = loop
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: Answer | None = None
        self.closed = False
        self.idle_since = 0.0
        self._paused = False
        self._last_read = 0.0
        self._read_timeout = 0.0
        #: checks the silence of the answer being read; one per connection, moved on lazily (see `_arm`)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._headers_done = False
        self._until_eof = False
        self._keep_alive = False
        self._interim = False

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # noqa: BLE001 - httptools' parser errors: what came is not HTTP
            self._broken(f"the server's answer is not valid HTTP ({type(exc).__name__})")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        self._stop_timer()
        answer = self.answer
        if answer is None or answer._done:
            return
        if self._until_eof and exc is None:
            answer.finish()  # a body without length ends with the connection
        elif not self._headers_done:
            answer.fail(NoAnswer("connection closed before an answer"))
        else:
            answer.fail(ReadFailed("the connection closed in the middle of the answer"))

    # -- httptools callbacks ---------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.answer is not None
        self.answer.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        answer = self.answer
        assert answer is not None
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the final one follows
            self._interim = True
            answer.headers.clear()
            return
        answer.status = status
        headers = answer.headers
        self._headers_done = True
        self._keep_alive = self.parser.should_keep_alive()  # read here: llhttp resets it at the end
        self._until_eof = "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", ""
        )
        coding = headers.get("content-encoding", "").strip().lower()
        if coding in ("gzip", "x-gzip"):
            answer._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            answer._decoder = zlib.decompressobj()
        answer._wake()

    def on_body(self, body: bytes) -> None:
        assert self.answer is not None
        self.answer.feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        assert self.answer is not None
        self._until_eof = False
        self.answer.finish()

    # -- requests --------------------------------------------------------------------------------------

    def request(self, head: bytes, body: bytes | None, read_timeout: float) -> Answer:
        """Write one request; the answer fills in as the server sends it."""
        assert self.transport is not None
        self.answer = answer = Answer(self)
        self._headers_done = self._until_eof = self._keep_alive = self._interim = False
        self._read_timeout = read_timeout
        self._last_read = self.loop.time()
        self._arm(self._last_read + read_timeout)
        try:
            self.transport.write(head + body if body else head)
        except (OSError, RuntimeError) as exc:  # the connection closed under us: nothing was sent
            self._broken(f"connection closed before an answer ({type(exc).__name__})")
        return answer

    def reusable(self) -> bool:
        """The last answer was read to its end and the server keeps the connection open."""
        answer = self.answer
        return not self.closed and answer is not None and answer.complete and self._keep_alive

    def _arm(self, due: float) -> None:
        """Have the silence checked at `due` (loop time) at the latest. A timer already set for earlier
        is kept: when it fires it sets itself again for what is left (`_check_silence`), so that a
        connection reused for request after request makes a timer every read timeout rather than one per
        request (making and cancelling a timer costs ~7,000 instructions, ~1 % of a served request)."""
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.loop.call_at(due, self._check_silence)

    def _check_silence(self) -> None:
        self._timer = None
        answer = self.answer
        if answer is None or answer._done:
            return  # nothing is being read (an idle connection in the pool): the next request sets one
        now = self.loop.time()
        waited = now - self._last_read
        if self._paused or waited < self._read_timeout:
            self._arm(now + (self._read_timeout if self._paused else self._read_timeout - waited))
            return
        if self._headers_done:
            answer.fail(ReadTimeout("no data within the read timeout"))
        else:
            answer.fail(ReadTimeout("no answer within the read timeout"))
        self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _broken(self, reason: str) -> None:
        answer = self.answer
        if answer is not None:
            answer.fail(ReadFailed(reason) if self._headers_done else NoAnswer(reason))
        self._stop_timer()
        self.close()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self._last_read = self.loop.time()
            self.transport.resume_reading()

    def close(self) -> None:
        """Close the connection (the answer in progress, if any, is cut)."""
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()


class Pool:
    """The keep-alive connections to one `host:port`: an idle one is reused (the most recent first),
    else a new one is opened. Idle connections older than `keepalive` seconds are closed when met."""

    def __init__(self, host: str, port: int, keepalive: float) -> None:
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.idle: list[Connection] = []
        self.open: set[Connection] = set()

    def reuse(self) -> Connection | None:
        """An idle connection still open and within its keep-alive time, None when there is none."""
        while self.idle:
            conn = self.idle.pop()
            closing = conn.transport is None or conn.transport.is_closing()
            if not conn.closed and not closing and conn.loop.time() - conn.idle_since < self.keepalive:
                return conn
            conn.close()
        return None

    async def connection(self, connect_timeout: float) -> Connection:
        """A connection ready for a request (an idle one, else a new one). Raises NoAnswer when none can
        be opened in time."""
        found = self.reuse()
        if found is not None:
            return found
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(lambda: Connection(loop, self), self.host, self.port)
        except TimeoutError:
            raise NoAnswer(f"no connection within {connect_timeout:g} s", timed_out=True) from None
        except OSError as exc:
            raise NoAnswer(connect_reason(exc)) from None
        self.open.add(conn)
        return conn

    def give_back(self, conn: Connection) -> None:
        """Keep `conn` for the next request when its answer was read to the end, else close it."""
        conn.answer = None if conn.reusable() else conn.answer
        if conn.answer is None:
            conn.idle_since = conn.loop.time()
            self.idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: Connection) -> None:
        """`conn` closed: drop it from the pool."""
        self.open.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        """Close every connection, idle or busy."""
        for conn in list(self.open):
            conn.close()
        self.idle.clear()
