"""Fixtures shared by the core tests and every plugin's tests (pytest finds this file for all of them)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import FakeOpenAIServer

from llmnet_core import Resources
from llmnet_core.plugins import PluginHost, reset_host


@pytest.fixture(autouse=True, scope="session")
def _private_data_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the tests' requests leave behind (the request log) goes to the test session's folder, never
    the user's; subprocesses inherit it through the environment."""
    patch = pytest.MonkeyPatch()
    patch.setenv("LLMNET_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield
    patch.undo()


@pytest.fixture
def host() -> Iterator[PluginHost]:
    """A fresh plugin host (entry points loaded) installed as the process-wide one for the test."""
    fresh = PluginHost()
    previous = reset_host(fresh)
    try:
        yield fresh
    finally:
        reset_host(previous)


@pytest.fixture
def register_plugin(host: PluginHost) -> Iterator[Callable[..., str]]:
    """Register plugin objects in-process for one test; they are unregistered afterwards."""
    names: list[str] = []

    def register(plugin: Any, name: str | None = None) -> str:
        actual = host.register(plugin, name)
        names.append(actual)
        return actual

    yield register
    for name in reversed(names):
        host.unregister(name)


def _fake_servers() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """A starter of FakeOpenAIServers; every server it started is stopped when the generator ends."""
    servers: list[FakeOpenAIServer] = []

    def start(reply: Any = "ok", **kwargs: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(reply, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Start fake OpenAI-compatible servers on 127.0.0.1: `fake_server(reply, name=...)`."""
    yield from _fake_servers()


@pytest.fixture(scope="module")
def fake_model() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """`fake_server` for a whole test module (servers that module-scoped fixtures point at)."""
    yield from _fake_servers()


@pytest.fixture
def echo_model(fake_server: Callable[..., FakeOpenAIServer]) -> FakeOpenAIServer:
    """A fake OpenAI-compatible model that answers `model saw: <the last message>` (hook tests see what
    reached the model in the output)."""
    return fake_server(lambda request: f"model saw: {request['messages'][-1]['content']}")


@pytest.fixture
async def resources() -> AsyncIterator[Resources]:
    """A `Resources` store for backends and transports built by hand; closed after the test."""
    store = Resources()
    yield store
    await store.aclose()


@pytest.fixture
def write_composition(tmp_path: Path) -> Callable[..., Path]:
    """Write a composition (dict or text) to a file in the test's folder and return its path."""
    counter = iter(range(1_000_000))

    def write(data: dict[str, Any] | str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"composition-{next(counter)}.json")
        path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
        return path

    return write
