"""The pooled aiohttp client: what a failure before an answer raises, the bound on requests in flight,
the proxy read from the environment, and the package's lazy exports (importing it loads no HTTP client)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from llmnet_http import NoAnswer, NoFreeConnection, Upstream, client_timeout, proxy_for


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_refused_connection_is_no_answer_and_frees_its_slot() -> None:
    origin = f"http://127.0.0.1:{closed_port()}"
    upstream = Upstream(origin)
    upstream.slots = asyncio.Semaphore(1)
    try:
        with pytest.raises(NoAnswer, match=r"^connection refused$") as info:
            await upstream.send("GET", origin + "/", headers={}, timeout=client_timeout(5, 5), slot_wait=1)
        assert not info.value.timed_out
        assert not upstream.slots.locked()
    finally:
        await upstream.aclose()


async def test_a_full_pool_is_reported_after_the_wait() -> None:
    origin = f"http://127.0.0.1:{closed_port()}"
    upstream = Upstream(origin)
    upstream.slots = asyncio.Semaphore(0)
    try:
        with pytest.raises(NoFreeConnection):
            await upstream.send("GET", origin + "/", headers={}, timeout=client_timeout(5, 5), slot_wait=0.01)
    finally:
        await upstream.aclose()


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
