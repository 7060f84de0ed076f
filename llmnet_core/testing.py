"""Test utilities for llmnet and its plugins: a real OpenAI-compatible HTTP server on 127.0.0.1.

`FakeOpenAIServer` answers `/v1/chat/completions` (plain JSON and SSE streaming) and `/v1/models` over
real HTTP/1.1 with keep-alive, records every request, and can be scripted with one-shot responses
(errors, rate limits, garbage, slow answers). It runs in its own thread, so sync and async tests alike
can use it:

    with FakeOpenAIServer(reply="hello world") as server:
        ...  # point a model's `url` at server.url
        assert server.chat_requests[0].json["model"] == "m"
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeOpenAIServer",
    "RecordedRequest",
    "ScriptedResponse",
    "count_words",
    "free_port",
    "hook_composition",
]

Reply = str | Callable[[dict[str, Any]], str]


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
    """A one-shot response queued with `FakeOpenAIServer.push`; `body=None` with a 2xx status means
    "the normal answer", with another status a JSON error object."""

    status: int = 200
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def count_words(text: str) -> int:
    """The fake server's notion of a token: a whitespace-separated word."""
    return len(text.split())


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (it was free a moment ago): "connection refused"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hook_composition(
    model: str | Mapping[str, Any],
    functions: Mapping[str, Mapping[str, Any]],
    transport: str,
    pre: Iterable[Any] = (),
    post: Iterable[Any] = (),
) -> dict[str, Any]:
    """A composition for hook tests: node `chat` answered by model `m`, with `pre` and `post` hooks, then
    `output`. `model` is the URL of an OpenAI-compatible server (a FakeOpenAIServer) or a whole model
    entry; every function gets `"type": transport` unless it names its own."""
    entry = {"type": "external", "url": model, "api-key": None} if isinstance(model, str) else dict(model)
    return {
        "models": {"m": entry},
        "functions": {name: {"type": transport, **fields} for name, fields in functions.items()},
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "m",
                "output-to": ["output"],
                "hooks": {"pre": list(pre), "post": list(post)},
            },
            {"name": "output", "adapter": "output"},
        ],
    }


def _content_text(content: Any) -> str:
    """The text of a message's `content`: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _split_words(text: str) -> list[str]:
    """Split `text` into word pieces that concatenate back to exactly `text`."""
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

    def __init__(self, owner: FakeOpenAIServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", owner.requested_port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and shutdown races are expected in tests; do not print tracebacks."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    timeout = 60  # idle keep-alive connections give up eventually
    server: _Server

    # -- connection bookkeeping -----------------------------------------------------------------

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

    # -- request handling -----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = self.path.split("?", 1)[0]
        recorded = RecordedRequest(
            method=self.command,
            path=path,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=parsed,
            body=body,
        )
        owner._record(recorded)
        route = path.rstrip("/")
        if route in ("/v1/chat/completions", "/chat/completions"):
            if self.command != "POST":
                self._send_error(405, f"method {self.command} not allowed on {path}")
                return
            self._chat(recorded, owner._next_script())
        elif route in ("/v1/models", "/models") and self.command == "GET":
            if not owner._sleep(owner.delay):
                return
            self._send_json(200, owner._models())
        else:
            self._send_error(404, f"no route for {self.command} {path}", "not_found_error")

    def _chat(self, recorded: RecordedRequest, script: ScriptedResponse | None) -> None:
        owner = self.server.owner
        delay = script.delay if script is not None else owner.delay
        if not owner._sleep(delay):
            self.close_connection = True
            return
        if script is not None and (script.body is not None or not 200 <= script.status < 300):
            self._send_scripted(script)
            return
        extra = script.headers if script is not None else {}
        status = script.status if script is not None else 200
        request = recorded.json
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            self._send_error(400, "the request body must be a JSON object with a 'messages' list")
            return
        try:
            text = owner._reply_for(request)
        except Exception as exc:  # noqa: BLE001 - a failing reply function becomes a 500
            self._send_error(500, f"reply function failed: {exc}", "server_error")
            return
        if request.get("stream") is True:
            self._stream(request, text, status, extra)
        else:
            self._send_json(status, owner._completion(request, text), extra)

    def _stream(self, request: dict[str, Any], text: str, status: int, extra: dict[str, str]) -> None:
        owner = self.server.owner
        self.send_response(status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        base = owner._chunk_base(request)
        events: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        ]
        events += [
            {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            for piece in _split_words(text)
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            events.append({**base, "choices": [], "usage": owner._usage(request, text)})
        for event in events:
            self._write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            if owner.chunk_delay and not owner._sleep(owner.chunk_delay):
                self.close_connection = True
                return
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_scripted(self, script: ScriptedResponse) -> None:
        if script.body is None:
            payload = {
                "error": {
                    "message": f"scripted error {script.status}",
                    "type": "server_error" if script.status >= 500 else "invalid_request_error",
                    "code": script.status,
                }
            }
            self._send_json(script.status, payload, script.headers)
            return
        data = script.body.encode() if isinstance(script.body, str) else script.body
        try:
            json.loads(data)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain; charset=utf-8"
        self._send_bytes(script.status, data, content_type, script.headers)

    def _send_error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "code": status}})

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", extra or {})

    def _send_bytes(self, status: int, data: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        lowered = {k.lower() for k in extra}
        if "content-type" not in lowered:
            self.send_header("Content-Type", content_type)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class FakeOpenAIServer:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (OS-chosen port), running in a daemon thread.

    `reply` is the answer text, or a function of the parsed request JSON returning it; `port` 0 picks a
    free port. `delay` (seconds)
    is slept before every answer (timeout tests); `chunk_delay` between streamed chunks. Tokens are
    counted as words. `push()` queues one-shot responses for chat completion requests.
    """

    def __init__(
        self,
        reply: Reply = "ok",
        *,
        name: str = "fake",
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        self.reply = reply
        self.requested_port = port
        self.name = name
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._script: deque[ScriptedResponse] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- public API -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's address without `/v1`, e.g. `http://127.0.0.1:54321`."""
        if self._server is None:
            raise RuntimeError("FakeOpenAIServer is not started; call start() or use it in a `with` block")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The requests received on `.../chat/completions`, in order."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def push(
        self,
        *,
        status: int = 200,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue a one-shot response for the next chat completion request (consumed in order).

        `body=None` with a 2xx status gives the normal answer (after `delay`, which replaces the server's
        default delay for that request); with another status, an OpenAI-style JSON error. A given `body`
        is sent as is (as JSON when it parses, else as text/plain) unless `headers` set Content-Type.
        """
        with self._lock:
            self._script.append(ScriptedResponse(status, body, dict(headers or {}), delay))

    def start(self) -> FakeOpenAIServer:
        """Bind a free port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeOpenAIServer:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake slow handlers and close every open connection; never hangs."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with server.connections_lock:
            connections = list(server.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- helpers used by the handler ------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_script(self) -> ScriptedResponse | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _sleep(self, seconds: float) -> bool:
        """Sleep `seconds`; False when the server is stopping (the handler should then give up)."""
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    def _reply_for(self, request: dict[str, Any]) -> str:
        reply = self.reply(request) if callable(self.reply) else self.reply
        return reply if isinstance(reply, str) else str(reply)

    def _usage(self, request: dict[str, Any], text: str) -> dict[str, int]:
        prompt = sum(
            count_words(_content_text(m.get("content")))
            for m in request.get("messages", [])
            if isinstance(m, dict)
        )
        completion = count_words(text)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _model(self, request: dict[str, Any]) -> str:
        model = request.get("model")
        return model if isinstance(model, str) and model else self.name

    def _completion(self, request: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model(request),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(request, text),
        }

    def _chunk_base(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self._model(request),
        }

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": self.name, "object": "model", "created": 0, "owned_by": "llmnet-testing"}],
        }
