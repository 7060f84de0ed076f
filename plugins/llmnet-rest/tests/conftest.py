"""A real HTTP peer for the rest transport's tests: stdlib http.server on 127.0.0.1, in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    """One request as the peer saw it."""

    method: str
    path: str
    target: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Reply:
    """What the peer answers: a status, a body, its media type, and an optional delay before answering."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    content_type: str | None = None
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str | None]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), self.content_type or "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return self.body, self.content_type


#: a handler answers a Reply, or a (status, body) or (status, body, content_type) tuple
Handler = Callable[[Received], Any]


@dataclass
class Peer:
    """Routes by path to handlers; records every request. `url(path)` gives a full address."""

    routes: dict[str, Handler] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(
        self,
        path: str,
        handler: Handler | None = None,
        *,
        status: int = 200,
        body: Any = b"",
        content_type: str | None = None,
        delay: float = 0.0,
    ) -> str:
        """Answer requests to `path` with `handler(request)` or the fixed reply given; returns the URL."""
        fixed = Reply(status, body, content_type, delay)
        self.routes[path] = handler or (lambda _request: fixed)
        return self.url(path)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def _handler_class(peer: Peer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            request = Received(
                self.command,
                path,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                self.client_address[1],
            )
            peer.received.append(request)
            handler = peer.routes.get(path)
            reply = handler(request) if handler else Reply(404, "no such route")
            if isinstance(reply, tuple):
                reply = Reply(*reply)
            if reply.delay:
                peer.stopping.wait(reply.delay)
            data, content_type = reply.encoded()
            self.send_response(reply.status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return _Handler


@pytest.fixture
def peer() -> Iterator[Peer]:
    """A running HTTP peer on an OS-chosen port, stopped after the test."""
    state = Peer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
