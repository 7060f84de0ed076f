"""The pooled aiohttp client: what a failure before an answer raises, the bound on requests in flight,
a backend's POST with those failures turned into its errors, the proxy read from the environment, and
the package's lazy exports (importing it loads no HTTP client)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from llmnet_http import (
    NoAnswer,
    NoFreeConnection,
    Retryable,
    Slots,
    Upstream,
    UpstreamPoster,
    client_timeout,
    proxy_for,
)

from llmnet_core import BackendError, BackendTimeoutError


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def origin() -> str:
    """A server that refuses connections."""
    return f"http://127.0.0.1:{closed_port()}"


@pytest.fixture
async def upstream(origin: str) -> AsyncIterator[Upstream]:
    """The pooled session of `origin`, closed after the test."""
    pool = Upstream(origin)
    try:
        yield pool
    finally:
        await pool.aclose()


async def test_a_refused_connection_is_no_answer_and_frees_its_slot(origin: str, upstream: Upstream) -> None:
    upstream.slots = Slots(1)
    with pytest.raises(NoAnswer, match=r"^connection refused$") as info:
        await upstream.send("GET", origin + "/", headers={}, timeout=client_timeout(5, 5), slot_wait=1)
    assert not info.value.timed_out
    assert upstream.slots.free == 1


async def test_a_full_pool_is_reported_after_the_wait(origin: str, upstream: Upstream) -> None:
    upstream.slots = Slots(0)
    with pytest.raises(NoFreeConnection):
        await upstream.send("GET", origin + "/", headers={}, timeout=client_timeout(5, 5), slot_wait=0.01)


class Poster(UpstreamPoster):
    """The least a backend supplies to `UpstreamPoster._post`."""

    def __init__(self, upstream: Upstream, url: str) -> None:
        self.upstream = upstream
        self._shown_url = url

    def _upstream(self) -> Upstream:
        return self.upstream

    def _error(self, message: str, *, kind: type[BackendError] = BackendError) -> BackendError:
        return kind(message, url=self._shown_url)

    def _unreachable(self, reason: str, timed_out: bool, attempts: int) -> BackendError:
        return self._error(
            f"unreachable: {reason}, {attempts}", kind=BackendTimeoutError if timed_out else BackendError
        )

    def _timeout_error(self) -> BackendError:
        return self._error("too slow", kind=BackendTimeoutError)


async def test_a_post_without_an_answer_is_retryable_and_gives_up_as_unreachable(
    origin: str, upstream: Upstream
) -> None:
    poster = Poster(upstream, origin)
    with pytest.raises(Retryable) as info:
        await poster._post(origin + "/", b"{}", headers={}, timeout=client_timeout(5, 5), slot_wait=1)
    error = info.value.give_up(3)
    assert type(error) is BackendError
    assert error.message == "unreachable: connection refused, 3"


async def test_a_post_that_finds_the_pool_full_is_a_timeout(origin: str, upstream: Upstream) -> None:
    upstream.slots = Slots(0)
    poster = Poster(upstream, origin)
    with pytest.raises(BackendTimeoutError) as info:
        await poster._post(origin + "/", b"{}", headers={}, timeout=client_timeout(5, 5), slot_wait=0.05)
    assert info.value.message == f"no free connection to {origin} within 0.05 s (too many requests in flight)"


def test_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert proxy_for("http://models.example:8000") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert proxy_for("https://api.example.com") == "http://proxy.example:3128"
    assert proxy_for("https://internal.example") is None
    assert proxy_for("http://models.example:8000") is None


def test_import_is_light() -> None:
    code = (
        "import sys, llmnet_http; from llmnet_http import header_safe, retry, Upstream; "
        "print(sorted(m for m in ('aiohttp', 'httpx', 'pydantic', 'tenacity') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == "[]"


def test_every_public_name_is_listed_and_importable() -> None:
    import llmnet_http

    assert sorted(llmnet_http.__all__) == sorted(["__version__", *llmnet_http._EXPORTS])
    for name in llmnet_http.__all__:
        assert getattr(llmnet_http, name) is not None


async def test_slots_serve_waiters_in_order_and_survive_cancellation() -> None:
    slots = Slots(1)
    await slots.acquire()
    assert slots.free == 0 and not slots.take()
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.acquire()
        order.append(name)

    first, second, third = (asyncio.create_task(wait(n)) for n in ("first", "second", "third"))
    await asyncio.sleep(0)
    second.cancel()  # a waiter that gives up leaves the queue
    slots.release()  # the freed slot goes to the first waiter, not to the count
    await first
    assert order == ["first"] and slots.free == 0
    slots.release()
    await third
    assert order == ["first", "third"]
    slots.release()
    assert slots.free == 1
    # a slot handed to a waiter cancelled before it could run passes on to the count
    await slots.acquire()
    late = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert slots.free == 1
