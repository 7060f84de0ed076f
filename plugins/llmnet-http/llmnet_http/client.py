"""The HTTP client of the model backends: one pool of connections per server, shared by every model
entry that uses it, with a bound on requests in flight; the failures before an answer, told apart from
the rest; the POST of a model backend with those failures turned into its errors (`UpstreamPoster`);
and a line splitter for streamed bodies (server-sent events, NDJSON).

Plain `http://` servers (local model servers: llama.cpp, Ollama, vLLM) go through the lean client of
`connection.py`; TLS, proxies and credentials in the URL through aiohttp (rather than httpx: on a 2-core
machine httpx spent ~0.7 ms of CPU per request, aiohttp ~0.11 ms, the lean client ~0.012 ms). Both are
imported on first use, so that loading a plugin stays cheap.
"""

from __future__ import annotations

import asyncio
import codecs
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmnet_core import BackendError, BackendTimeoutError

from .connection import Answer, NoAnswer, Pool, ReadFailed, ReadTimeout
from .retries import Retryable
from .text import connect_reason

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    import aiohttp

#: requests in flight to one server before more wait (for at most the caller's `slot_wait`)
MAX_CONNECTIONS = 256
#: seconds an idle pooled connection is kept
KEEPALIVE = 30.0


_aiohttp: Any = None


def aiohttp_module() -> Any:
    """aiohttp, imported on first use."""
    global _aiohttp
    if _aiohttp is None:
        import aiohttp

        _aiohttp = aiohttp
    return _aiohttp


@dataclass(frozen=True)
class Timeouts:
    """Seconds for a connection and between two reads of the answer; no bound on the whole exchange,
    so that a long stream that keeps coming is not cut."""

    connect: float
    read: float

    @cached_property
    def for_aiohttp(self) -> aiohttp.ClientTimeout:
        """The same bounds as aiohttp's ClientTimeout."""
        return aiohttp_module().ClientTimeout(total=None, sock_connect=self.connect, sock_read=self.read)


def client_timeout(connect: float, read: float) -> Timeouts:
    """The timeouts of a request: `connect` seconds for a connection, `read` between two reads."""
    return Timeouts(connect, read)


class NoFreeConnection(Exception):
    """Every slot of the server's pool stayed busy for the whole wait."""


def _ssl_context() -> ssl.SSLContext:
    """The system's trusted certificates (and `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus certifi's when it
    is installed, as httpx did."""
    import ssl

    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi is usually there
        return context
    context.load_verify_locations(certifi.where())
    return context


def proxy_for(url: str) -> str | None:
    """The proxy that `HTTP(S)_PROXY`/`ALL_PROXY` name for `url`, unless `NO_PROXY` excludes its host.

    Read once per server (not per request, which is what aiohttp's `trust_env` would do).
    """
    import urllib.request

    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or not parts.hostname:
        return None
    if urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    return proxy


class Slots:
    """At most `size` requests in flight to one server: a count of free slots and the requests waiting
    for one, served in order (a freed slot goes straight to the first waiter). What asyncio's Semaphore
    does, at about a third of its cost on the path every request takes (a free slot: one comparison)."""

    __slots__ = ("_waiters", "free")

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take a slot if one is free without waiting; False otherwise."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting for one when none is free (cancellable: a slot handed over to a request
        cancelled at that moment passes on to the next)."""
        if self.take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the first request still waiting, else to the count."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class Exchange:
    """An open response and the pool slot it holds: `status`, `headers` (`get` in any case), the body
    whole (`read`) or in pieces (`pieces`); `close()` gives the connection and the slot back (the
    connection is reused when the body was read to its end, closed otherwise). Reading raises
    ReadTimeout when the server goes silent for the read timeout, ReadFailed when the answer breaks."""

    __slots__ = ("_closed", "_slots", "headers", "status")

    status: int
    headers: Mapping[str, str]

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._closed = False

    def close(self) -> None:
        """Give the connection back to the pool (or close it) and free the slot; idempotent."""
        if not self._closed:
            self._closed = True
            self._release()
            self._slots.release()

    def _release(self) -> None:
        raise NotImplementedError

    async def read(self) -> bytes:
        """The whole body."""
        raise NotImplementedError

    def pieces(self) -> AsyncGenerator[bytes, None]:
        """The body in pieces as they arrive."""
        raise NotImplementedError

    async def read_and_close(self) -> bytes:
        """The whole body (b"" when it cannot be read, as for an error answer), then `close()`."""
        try:
            return await self.read()
        except (ReadTimeout, ReadFailed):
            return b""
        finally:
            self.close()


class _LeanExchange(Exchange):
    """An answer of the lean client."""

    __slots__ = ("_answer", "_pool")

    def __init__(self, answer: Answer, pool: Pool, slots: Slots) -> None:
        super().__init__(slots)
        self._answer = answer
        self._pool = pool
        self.status = answer.status
        self.headers = answer.headers

    def _release(self) -> None:
        self._pool.give_back(self._answer.conn)

    async def read(self) -> bytes:
        return await self._answer.read()

    async def pieces(self) -> AsyncGenerator[bytes, None]:
        answer = self._answer
        while (piece := await answer.next_piece()) is not None:
            yield piece


class _AiohttpExchange(Exchange):
    """An aiohttp response, its errors told as ReadTimeout and ReadFailed."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse, slots: Slots) -> None:
        super().__init__(slots)
        self._response = response
        self.status = response.status
        self.headers = response.headers

    def _release(self) -> None:
        self._response.release()

    async def read(self) -> bytes:
        aiohttp = aiohttp_module()
        try:
            return await self._response.read()
        except aiohttp.ServerTimeoutError:
            raise ReadTimeout("no data within the read timeout") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ReadFailed(f"the answer could not be read ({type(exc).__name__})") from None

    async def pieces(self) -> AsyncGenerator[bytes, None]:
        aiohttp = aiohttp_module()
        chunks = self._response.content.iter_any()
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except aiohttp.ServerTimeoutError:
                raise ReadTimeout("no data within the read timeout") from None
            except aiohttp.ClientError as exc:
                raise ReadFailed(f"the answer could not be read ({type(exc).__name__})") from None
            yield chunk


class Upstream:
    """One server's pooled connections: keep-alive HTTP/1.1, at most `MAX_CONNECTIONS` requests in
    flight (`slots`), and the proxy to go through, if any. A plain `http://` origin without a proxy or
    credentials uses the lean client; anything else aiohttp."""

    def __init__(self, origin: str) -> None:
        parts = urlsplit(origin)
        self.slots = Slots(MAX_CONNECTIONS)
        self.proxy = proxy_for(origin)
        self.lean: Pool | None = None
        self._session: aiohttp.ClientSession | None = None
        self._https = parts.scheme.lower() == "https"
        if not self._https and self.proxy is None and parts.username is None and parts.hostname:
            host = parts.hostname
            self.lean = Pool(host, parts.port or 80, KEEPALIVE)
            shown = f"[{host}]" if ":" in host else host
            self._host_header = shown if parts.port in (None, 80) else f"{shown}:{parts.port}"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (for origins the lean client does not serve), made on first use."""
        if self._session is None:
            aiohttp = aiohttp_module()
            connector = aiohttp.TCPConnector(
                limit=0,  # the bound is `slots`, whose waits have a timeout and a clear error
                keepalive_timeout=KEEPALIVE,
                ssl=_ssl_context() if self._https else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None), trust_env=False
            )
        return self._session

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self.lean is not None:
            self.lean.close()
        if self._session is not None:
            await self._session.close()

    async def _wait_for_slot(self, wait: float) -> None:
        try:
            async with asyncio.timeout(wait):
                await self.slots.acquire()
        except TimeoutError:
            raise NoFreeConnection() from None

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout: Timeouts,
        data: bytes | None = None,
        slot_wait: float,
    ) -> Exchange:
        """Send one request and return its response, whatever the status, once the headers came.

        Raises NoFreeConnection when no slot frees up within `slot_wait` seconds, NoAnswer when the
        connection failed before an answer, ReadTimeout when the headers did not come within the read
        timeout, ReadFailed for another failure of the exchange.
        """
        if not self.slots.take():
            await self._wait_for_slot(slot_wait)
        handed_over = False
        try:
            if self.lean is not None:
                exchange: Exchange = await self._send_lean(method, url, headers, timeout, data)
            else:
                exchange = await self._send_aiohttp(method, url, headers, timeout, data)
            handed_over = True
        finally:
            if not handed_over:
                self.slots.release()
        return exchange

    async def _send_lean(
        self, method: str, url: str, headers: Mapping[str, str], timeout: Timeouts, data: bytes | None
    ) -> Exchange:
        pool = self.lean
        assert pool is not None
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        for name, value in headers.items():
            head += f"{name}: {value}\r\n"
        if data is not None:
            head += f"Content-Length: {len(data)}\r\n"
        conn = pool.reuse() or await pool.connection(timeout.connect)
        answer = conn.request((head + "\r\n").encode("latin-1"), data, timeout.read)
        try:
            await answer.head()
        except BaseException:
            conn.close()
            raise
        return _LeanExchange(answer, pool, self.slots)

    async def _send_aiohttp(
        self, method: str, url: str, headers: Mapping[str, str], timeout: Timeouts, data: bytes | None
    ) -> Exchange:
        aiohttp = aiohttp_module()
        try:
            response = await self.session.request(
                method, url, data=data, headers=headers, timeout=timeout.for_aiohttp, proxy=self.proxy
            )
        except aiohttp.ConnectionTimeoutError:
            raise NoAnswer(f"no connection within {timeout.connect:g} s", timed_out=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise NoAnswer(connect_reason(exc)) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            raise NoAnswer("connection closed before an answer") from None
        except aiohttp.ServerTimeoutError:
            raise ReadTimeout("no answer within the read timeout") from None
        except aiohttp.ClientError as exc:
            raise ReadFailed(f"the request failed ({type(exc).__name__})") from None
        return _AiohttpExchange(response, self.slots)


class UpstreamPoster:
    """A mixin for a model backend that POSTs to its server through a pooled `Upstream`: `_post` sends
    one request and turns the failures before an answer into the backend's errors.

    The backend supplies `_shown_url` (the URL for messages, its password masked), `_upstream()` (the
    server's `Upstream`), `_error(message, *, kind=BackendError)` (an error with the backend's secrets
    masked), `_unreachable(reason, timed_out, attempts)` (the error when no attempt got an answer) and
    `_timeout_error()` (the error when the answer did not come in time).
    """

    _shown_url: str

    if TYPE_CHECKING:  # pragma: no cover - supplied by the backend

        def _upstream(self) -> Upstream: ...

        def _error(self, message: str, *, kind: type[BackendError] = BackendError) -> BackendError: ...

        def _unreachable(self, reason: str, timed_out: bool, attempts: int) -> BackendError: ...

        def _timeout_error(self) -> BackendError: ...

    async def _post(
        self,
        url: str,
        data: bytes,
        *,
        headers: Mapping[str, str],
        timeout: Timeouts,
        slot_wait: float,
    ) -> Exchange:
        """POST `data` to `url` and return the response once its headers came, whatever the status.

        A failure before an answer raises Retryable (its `give_up` is `_unreachable`); a pool that stays
        full for `slot_wait` seconds, a read timeout (`_timeout_error()`) or another client error raises
        the backend's error at once.
        """
        try:
            return await self._upstream().send(
                "POST", url, data=data, headers=headers, timeout=timeout, slot_wait=slot_wait
            )
        except NoAnswer as exc:
            raise Retryable(partial(self._unreachable, str(exc), exc.timed_out)) from None
        except NoFreeConnection:
            raise self._error(
                f"no free connection to {self._shown_url} within {slot_wait:g} s "
                "(too many requests in flight)",
                kind=BackendTimeoutError,
            ) from None
        except ReadTimeout:
            raise self._timeout_error() from None
        except ReadFailed as exc:
            raise self._error(f"request to {self._shown_url} failed: {exc}") from None


def idle_connections(upstream: Upstream) -> int:
    """Connections kept alive for reuse (for tests and diagnostics)."""
    if upstream.lean is not None:
        return sum(not conn.closed for conn in upstream.lean.idle)
    connector: Any = upstream.session.connector
    return sum(len(held) for held in getattr(connector, "_conns", {}).values())


async def iter_lines(exchange: Exchange) -> AsyncGenerator[str, None]:
    """The lines of a response body as text, split on `\\n`, `\\r\\n` or `\\r` (as SSE allows), decoded
    as UTF-8 as they arrive; a character split across reads is joined. Raises what `pieces` raises."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in exchange.pieces():
        pending += decoder.decode(chunk)
        if "\r" in pending:
            pending = pending.replace("\r\n", "\n")
            # a lone \r ends a line, unless it is the last character (its \n may be in the next read)
            keep = pending.endswith("\r")
            body = pending[:-1] if keep else pending
            pending = body.replace("\r", "\n") + ("\r" if keep else "")
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line
    pending += decoder.decode(b"", final=True)
    if pending.endswith("\r"):
        pending = pending[:-1]
    if pending:
        yield pending
