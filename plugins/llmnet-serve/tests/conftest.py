"""Fixtures for llmnet-serve: `llmnet serve` started for real (a subprocess on a free port), compositions
pointing at fake model servers, and a slow model peer that reports when llmnet drops its connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import select
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from llmnet_testing import FakeOpenAIServer

LLMNET = Path(sys.executable).with_name("llmnet")
BANNER = re.compile(r"llmnet serve: http://127\.0\.0\.1:(\d+)/v1")


class ServeProcess:
    """`llmnet serve COMPOSITION ARGS --port 0` in a subprocess; `url` once it printed its address."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, *, wait: bool = True) -> None:
        command = [str(LLMNET), "serve", *args]
        if "--port" not in args:
            command += ["--port", "0"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: list[str] = []
        self._ended = False
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ""
        if wait:
            self.url = f"http://127.0.0.1:{self._wait_for_banner()}"

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def _wait_for_banner(self) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self._ended = True
                break
            match = BANNER.search(line)
            if match:
                return int(match.group(1))
        self.stop()
        raise AssertionError(f"llmnet serve did not start:\n{self.output}")

    @property
    def output(self) -> str:
        """Everything the server printed on stderr so far."""
        return "".join(self.lines)

    def wait(self, timeout: float = 15) -> int:
        """Wait for the process to end (bounded); returns its exit status."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=5)
        deadline = time.monotonic() + 2
        with contextlib.suppress(queue.Empty):  # let the reader thread collect the last lines
            while not self._ended and self._queue.get(timeout=max(0.01, deadline - time.monotonic())):
                pass
        self._ended = True
        return code

    def stop(self) -> int:
        """SIGTERM (a graceful stop), then wait; killed if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.wait()


@pytest.fixture(scope="module")
def start_serve() -> Iterator[Callable[..., ServeProcess]]:
    """Start `llmnet serve` processes for a test module; all are stopped at its end."""
    started: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> ServeProcess:
        server = ServeProcess([str(a) for a in args], env, wait=wait)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compositions")


def write_json(folder: Path, name: str, data: dict[str, Any]) -> Path:
    """Write a composition file and return its path."""
    path = folder / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def last_user(request: dict[str, Any]) -> str:
    """The content of the last user message of a recorded chat request."""
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def routed_composition(router: FakeOpenAIServer, sales: FakeOpenAIServer, support: FakeOpenAIServer) -> dict:
    """A router (layer 0, asks its model) choosing between two handlers (layer 1)."""
    return {
        "models": {
            "router-model": {"type": "external", "url": router.url, "model": "tiny-router"},
            "sales-model": {"type": "external", "url": sales.url, "model": "sales-7b"},
            "support-model": {"type": "external", "url": support.url, "model": "support-7b"},
        },
        "architecture": [
            {"name": "router", "layer": 0, "model": "router-model", "output-to": [1]},
            {
                "name": "sales",
                "layer": 1,
                "model": "sales-model",
                "use-case": "prices, plans and orders",
                "context": "You are the sales desk.",
                "output-to": ["output"],
            },
            {
                "name": "support",
                "layer": 1,
                "model": "support-model",
                "use-case": "refunds and problems",
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }


def route_by_refund(request: dict[str, Any]) -> str:
    """The router model: "support" for refunds, else "sales"."""
    return "support" if "refund" in last_user(request).lower() else "sales"


@pytest.fixture(scope="module")
def routed(fake_model, start_serve, module_dir) -> Any:
    """`llmnet serve` (no API key) in front of the routed composition; returns the parts."""
    router = fake_model(route_by_refund, name="router")
    sales = fake_model(lambda r: f"sales answer to: {last_user(r)}", name="sales")
    support = fake_model(lambda r: f"support saw {len(r['messages'])} messages", name="support")
    path = write_json(module_dir, "routed.json", routed_composition(router, sales, support))
    server = start_serve(path)
    return SimpleNamespace(
        url=server.url, server=server, path=path, router=router, sales=sales, support=support
    )


async def _status(client: httpx.AsyncClient, url: str, **kwargs: Any) -> dict[str, Any]:
    reply = await client.get(f"{url}/status", **kwargs)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def _wait_for_status(
    client: httpx.AsyncClient,
    url: str,
    check: Callable[[dict[str, Any]], bool] = lambda data: True,
    **kwargs: Any,
) -> dict[str, Any]:
    """`/status` once `check` holds on it (polled for at most 10 s; the last one otherwise)."""
    deadline = time.monotonic() + 10
    while True:
        data = await _status(client, url, **kwargs)
        if check(data) or time.monotonic() > deadline:
            return data
        await asyncio.sleep(0.02)


@pytest.fixture
def server_status() -> Callable[..., Any]:
    """`await server_status(client, url, check=None)`: the server's `/status`, polled until `check` holds."""
    return _wait_for_status


# -- a model peer written for these tests ------------------------------------------------------------------


class SlowModelPeer:
    """An OpenAI-style model server for cancellation tests, on 127.0.0.1 in a thread.

    Streamed requests get a first chunk, then one more every 0.1 s (at most 15 s); a request whose last
    message is "break" gets one chunk and then a closed connection; plain requests get no answer at all.
    `received` is set when a request arrives, `dropped` when llmnet closes the connection.
    """

    def __init__(self) -> None:
        self.received = threading.Event()
        self.dropped = threading.Event()
        self.stopping = threading.Event()
        peer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                peer._handle(self)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def reset(self) -> None:
        self.received.clear()
        self.dropped.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: socketserver.StreamRequestHandler) -> None:
        length = 0
        while True:
            line = handler.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = json.loads(handler.rfile.read(length) or b"{}")
        self.received.set()
        sock: socket.socket = handler.connection
        if not body.get("stream"):
            self._wait_for_close(sock, 15)
            return
        handler.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        self._chunk(handler, {"role": "assistant", "content": "Hello"})
        if body["messages"][-1]["content"] == "break":
            sock.shutdown(socket.SHUT_RDWR)
            return
        for _ in range(150):
            if self._wait_for_close(sock, 0.1):
                return
            try:
                self._chunk(handler, {"content": " more"})
            except OSError:
                self.dropped.set()
                return

    def _chunk(self, handler: socketserver.StreamRequestHandler, delta: dict[str, str]) -> None:
        event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
        data = b"data: " + json.dumps(event).encode() + b"\n\n"
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    def _wait_for_close(self, sock: socket.socket, seconds: float) -> bool:
        """True (and `dropped` set) when the other side closed the connection within `seconds`."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable:
                with contextlib.suppress(OSError):
                    if sock.recv(1024):
                        continue
                self.dropped.set()
                return True
        return False


@pytest.fixture(scope="module")
def slow_peer() -> Iterator[SlowModelPeer]:
    peer = SlowModelPeer()
    yield peer
    peer.stop()
