"""The base of the fake servers: `FakeHTTPServer` (a threading HTTP/1.1 server on 127.0.0.1 in a daemon
thread) and `FakeHTTPHandler` (its request handler), what they record and replay (`RecordedRequest`,
`ScriptedResponse`), and small helpers every fake shares (`free_port`, `word_pieces`, `count_words`).

A fake server of some protocol subclasses both: the server sets `handler`, the handler writes `route()`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

__all__ = [
    "CUT_STREAMS",
    "FakeHTTPHandler",
    "FakeHTTPServer",
    "RecordedRequest",
    "ScriptedResponse",
    "count_words",
    "free_port",
    "word_pieces",
]

#: the ways `FakeHTTPHandler.send_cut_stream` ends a stream early
CUT_STREAMS = ("truncated", "reset")


@dataclass
class RecordedRequest:
    """One HTTP request the fake server received; `headers` has lower-case keys, `json` is None when the
    body is empty or not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any | None
    body: bytes


@dataclass
class ScriptedResponse:
    """A one-shot response queued with `push`; `body=None` with a 2xx status means "the normal answer",
    with another status the protocol's JSON error object. `stream_fault` names how a streamed normal
    answer ends early (each fake lists the faults it knows)."""

    status: int = 200
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream_fault: str | None = None


def count_words(text: str) -> int:
    """The fake server's notion of a token: a whitespace-separated word."""
    return len(text.split())


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (it was free a moment ago): "connection refused"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def word_pieces(text: str) -> list[str]:
    """Split `text` into the fakes' tokens: word pieces (`" world"`) that concatenate back to `text`."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces.append(rest)
    return pieces


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its owner, tracks open connections and stays quiet."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: FakeHTTPServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", owner.requested_port), owner.handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and shutdown races are expected in tests; do not print tracebacks."""


class FakeHTTPHandler(BaseHTTPRequestHandler):
    """Base of a fake server's request handler: HTTP/1.1 keep-alive, open connections tracked (so that
    `stop` can close them), no logging. `do_GET` and `do_POST` call `route()`, which subclasses write;
    `record()` reads and records the request, the `send_*` methods answer."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections give up eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request logging to stderr."""

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    @property
    def owner(self) -> FakeHTTPServer:
        """The fake server this handler answers for."""
        return self.server.owner

    def route(self) -> None:
        """Answer the request (a subclass's protocol)."""
        raise NotImplementedError

    def record(self) -> RecordedRequest:
        """Read the request's body (plain or chunked) and record the request on the server."""
        body = self._read_body()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = RecordedRequest(self.command, path, headers, parsed, body)
        self.owner.record(recorded)
        return recorded

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(data)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(
        self,
        status: int,
        payload: Any,
        extra: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer `payload` as JSON."""
        self.send_bytes(status, json.dumps(payload).encode(), content_type, extra)

    def send_bytes(
        self, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        """Answer `data` with a Content-Length; `extra` headers may replace the Content-Type."""
        extra = extra or {}
        self.send_response(status)
        if "content-type" not in {k.lower() for k in extra}:
            self.send_header("Content-Type", content_type)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_as_given(
        self, status: int, body: str | bytes, extra: dict[str, str], json_type: str = "application/json"
    ) -> None:
        """Answer a scripted `body` as it is: typed `json_type` when it parses as JSON, else as text."""
        data = body.encode() if isinstance(body, str) else body
        try:
            json.loads(data)
            content_type = json_type
        except ValueError:
            content_type = "text/plain; charset=utf-8"
        self.send_bytes(status, data, content_type, extra)

    def begin_chunked(self, status: int, content_type: str, extra: dict[str, str] | None = None) -> None:
        """Send the status line and headers of a chunked (streamed) body; `write_chunk` sends its parts."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """Send one chunk of a chunked body (`b""` ends it)."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def send_cut_stream(
        self, fault: str, content_type: str, parts: list[bytes], extra: dict[str, str] | None = None
    ) -> None:
        """Send `parts` as a streamed 200 body that ends early, as a failing server or network would.

        `"truncated"`: a chunked body that ends cleanly after `parts`. `"reset"`: a body with neither a
        length nor chunks (it ends when the connection closes), aborted after `parts` with a TCP reset,
        so that only the protocol's own end marker can tell a whole answer from a cut one.
        """
        if fault == "truncated":
            self.begin_chunked(200, content_type, extra)
            for part in parts:
                self.write_chunk(part)
            self.write_chunk(b"")
            return
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(b"".join(parts))
        self.wfile.flush()
        self.abort()

    def send_cut_body(self, fault: str, content_type: str, data: bytes) -> None:
        """Promise `data` with a Content-Length, send its first half, then end the connection: cleanly
        (`"truncated"`) or with a TCP reset (`"reset"`)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        if fault == "reset":
            self.abort()

    def abort(self) -> None:
        """Close the connection with a TCP reset (linger 0: close() sends RST instead of FIN)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class FakeHTTPServer:
    """Base of a fake HTTP server for tests: a threading server on 127.0.0.1 (an OS-chosen port unless
    `port` is given) in a daemon thread, answering with the `handler` class a subclass sets.

    It records every request (`requests`), hands out one-shot scripted responses in order (`queue`,
    `next_script`), sleeps for handlers in a way `stop()` interrupts (`delay` before answers,
    `chunk_delay` between streamed chunks), and stops without hanging. Use it started (`start()`), or
    as a context manager.
    """

    handler: ClassVar[type[FakeHTTPHandler]] = FakeHTTPHandler

    def __init__(self, *, delay: float = 0.0, chunk_delay: float = 0.0, port: int = 0) -> None:
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.requested_port = port
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._script: deque[Any] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's address, e.g. `http://127.0.0.1:54321`."""
        if self._server is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} is not started; call start() or use it in a `with` block")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> Self:
        """Bind the port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close every open connection; never hangs."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        self.wake()
        server.shutdown()
        with server.connections_lock:
            connections = list(server.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- for handlers and subclasses -------------------------------------------------------------

    def wake(self) -> None:
        """Called by `stop()`: release handlers that wait on something of the subclass's own."""

    def record(self, request: RecordedRequest) -> None:
        """Keep a request the handler received."""
        with self._lock:
            self.requests.append(request)

    def queue(self, script: Any) -> None:
        """Queue a one-shot response (a subclass's `push` builds it) for the next request that asks."""
        with self._lock:
            self._script.append(script)

    def next_script(self) -> Any:
        """The oldest queued one-shot response, or None."""
        with self._lock:
            return self._script.popleft() if self._script else None

    def sleep(self, seconds: float) -> bool:
        """Sleep `seconds`; False when the server is stopping (the handler should then give up)."""
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()
