"""The HTTP client of the model backends: one pooled aiohttp session per server, shared by every model
entry that uses it, with a bound on requests in flight; the failures before an answer, told apart from
the rest; the POST of a model backend with those failures turned into its errors (`UpstreamPoster`);
and a line splitter for streamed bodies (server-sent events, NDJSON).

aiohttp rather than httpx: on a 2-core machine httpx spent ~0.7 ms of CPU per request (its pool also
re-scans every connection on each request), aiohttp ~0.15 ms; see llmnet-openai's README for figures.
aiohttp is imported on first use, so that loading a plugin stays cheap.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncGenerator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmnet_core import BackendError, BackendTimeoutError

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


def client_timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    """Seconds for a connection and between two reads of the answer; no bound on the whole exchange,
    so that a long stream that keeps coming is not cut."""
    return aiohttp_module().ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class NoAnswer(Exception):
    """No answer came, so the request may be sent again: the connection failed or closed first. The
    message is the reason ("connection refused"); `timed_out` when no connection came in time."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


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


class Exchange:
    """An open response and the pool slot it holds; `close()` gives both back (the connection is
    reused when the body was read to its end, closed otherwise)."""

    __slots__ = ("_closed", "_slots", "response")

    def __init__(self, response: aiohttp.ClientResponse, slots: asyncio.Semaphore) -> None:
        self.response = response
        self._slots = slots
        self._closed = False

    def close(self) -> None:
        """Give the connection back to the pool (or close it) and free the slot; idempotent."""
        if not self._closed:
            self._closed = True
            self.response.release()
            self._slots.release()

    async def read_and_close(self) -> bytes:
        """The whole body (b"" when it cannot be read, as for an error answer), then `close()`."""
        aiohttp = aiohttp_module()
        try:
            return await self.response.read()
        except (aiohttp.ClientError, TimeoutError):
            return b""
        finally:
            self.close()


class Upstream:
    """One server's pooled session: keep-alive HTTP/1.1 connections, at most `MAX_CONNECTIONS` requests
    in flight (`slots`), and the proxy to go through, if any."""

    def __init__(self, origin: str) -> None:
        aiohttp = aiohttp_module()
        https = origin.startswith("https:")
        connector = aiohttp.TCPConnector(
            limit=0,  # the bound is `slots`, whose waits have a timeout and a clear error
            keepalive_timeout=KEEPALIVE,
            ssl=_ssl_context() if https else True,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=False,
        )
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.proxy = proxy_for(origin)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self.session.close()

    async def _take_slot(self, wait: float) -> None:
        if not self.slots.locked():
            await self.slots.acquire()  # a free slot: no wait
            return
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
        timeout: aiohttp.ClientTimeout,
        data: bytes | None = None,
        slot_wait: float,
    ) -> Exchange:
        """Send one request and return its response, whatever the status, once the headers came.

        Raises NoFreeConnection when no slot frees up within `slot_wait` seconds and NoAnswer when the
        connection failed before an answer; aiohttp's own errors (a read timeout is
        `aiohttp.ServerTimeoutError`) pass through.
        """
        aiohttp = aiohttp_module()
        await self._take_slot(slot_wait)
        handed_over = False
        try:
            response = await self.session.request(
                method, url, data=data, headers=headers, timeout=timeout, proxy=self.proxy
            )
            handed_over = True
        except aiohttp.ConnectionTimeoutError:
            raise NoAnswer(f"no connection within {timeout.sock_connect:g} s", timed_out=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise NoAnswer(connect_reason(exc)) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            raise NoAnswer("connection closed before an answer") from None
        finally:
            if not handed_over:
                self.slots.release()
        return Exchange(response, self.slots)


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
        timeout: aiohttp.ClientTimeout,
        slot_wait: float,
    ) -> Exchange:
        """POST `data` to `url` and return the response once its headers came, whatever the status.

        A failure before an answer raises Retryable (its `give_up` is `_unreachable`); a pool that stays
        full for `slot_wait` seconds, a read timeout (`_timeout_error()`) or another client error raises
        the backend's error at once.
        """
        aiohttp = aiohttp_module()
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
        except aiohttp.ServerTimeoutError:
            raise self._timeout_error() from None
        except aiohttp.ClientError as exc:
            raise self._error(f"request to {self._shown_url} failed: {type(exc).__name__}") from None


def idle_connections(upstream: Upstream) -> int:
    """Connections kept alive for reuse (for tests and diagnostics)."""
    connector: Any = upstream.session.connector
    return sum(len(held) for held in getattr(connector, "_conns", {}).values())


async def iter_lines(response: aiohttp.ClientResponse) -> AsyncGenerator[str, None]:
    """The lines of a response body as text, split on `\\n`, `\\r\\n` or `\\r` (as SSE allows), decoded
    as UTF-8 as they arrive; a character split across reads is joined."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in response.content.iter_any():
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
