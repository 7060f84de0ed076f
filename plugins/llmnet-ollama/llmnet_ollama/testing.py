"""A fake Ollama server for tests: a real HTTP/1.1 server on 127.0.0.1 speaking Ollama's native API.

`POST /api/chat` answers one JSON object with `"stream": false`, else (the default) NDJSON lines
(`application/x-ndjson`, chunked): one object per token, then `"done": true` with `done_reason`,
`prompt_eval_count`, `eval_count` and durations (ns). It honours `options.num_predict` ("length") and
`options.stop`; empty `messages` load (or, with `keep_alive: 0`, unload) the model; an unknown model gets
404 `{"error": "model \"x\" not found, try pulling it first"}`. `GET /api/tags`, `GET /api/version` and
`GET /` ("Ollama is running") work too; other paths get 404 "404 page not found". Tokens are word
pieces (`" world"`). It records requests, takes one-shot scripts (`push`) and can hold a stream until
`resume()`. It imports nothing from llmnet:

    with FakeOllamaServer(reply="Hello there", models=["llama3.2"]) as server:
        ...  # a models entry {"runner": "ollama", "url": server.url, "model": "llama3.2"}
        assert server.chat_requests[0].json["options"]["temperature"] == 0
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOllamaServer", "RecordedRequest", "ScriptedResponse", "pieces"]

Reply = str | Callable[[dict[str, Any]], str]
VERSION = "0.6.8"


@dataclass
class RecordedRequest:
    """One HTTP request received: `headers` has lower-case keys; `json` is None for an empty or bad body."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any | None
    body: bytes


@dataclass
class ScriptedResponse:
    """A one-shot answer for the next `/api/chat` request (see `FakeOllamaServer.push`)."""

    status: int = 200
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    error: str | None = None


def pieces(text: str) -> list[str]:
    """Split `text` into the fake's tokens: word pieces that concatenate back to exactly `text`."""
    found = re.findall(r"\s*\S+", text)
    rest = text[len("".join(found)) :]
    if rest:
        found = [*found[:-1], found[-1] + rest] if found else [rest]
    return found


def full_name(name: str) -> str:
    """`llama3.2` → `llama3.2:latest`, as Ollama resolves a name without a tag."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: FakeOllamaServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", owner.requested_port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and shutdown races are expected in tests; print nothing."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOllama/" + VERSION
    timeout = 60
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
        """No per-request logging on stderr."""

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

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

    def _handle(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = self.path.split("?", 1)[0]
        owner._record(
            RecordedRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()}, parsed, body)
        )
        route = (self.command, path.rstrip("/") or "/")
        if route in (("GET", "/"), ("HEAD", "/")):
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif route == ("GET", "/api/version"):
            self._send_json(200, {"version": owner.version})
        elif route == ("GET", "/api/tags"):
            self._send_json(200, {"models": [owner._tag(name) for name in owner.models]})
        elif route == ("POST", "/api/chat"):
            self._chat(body, parsed, owner._next_script())
        else:
            self._send(404, b"404 page not found", "text/plain")

    def _chat(self, raw: bytes, request: Any, script: ScriptedResponse | None) -> None:
        owner = self.server.owner
        if not owner._sleep(script.delay if script is not None else owner.delay):
            self.close_connection = True
            return
        if script is not None and (script.body is not None or not 200 <= script.status < 300):
            self._send_scripted(script)
            return
        if not isinstance(request, dict):
            detail = "unexpected end of JSON input" if not raw else "invalid character in request body"
            self._send_json(400, {"error": detail})
            return
        model = request.get("model")
        if not isinstance(model, str) or not model:
            self._send_json(400, {"error": "model is required"})
            return
        if not owner._has(model):
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        messages = request.get("messages")
        if messages is not None and not isinstance(messages, list):
            self._send_json(400, {"error": "json: cannot unmarshal messages: not an array"})
            return
        stream = request.get("stream", True) is not False  # Ollama streams unless told not to
        if not messages:
            reason = "unload" if request.get("keep_alive") in (0, "0", "0s") else "load"
            self._answer(stream, owner._final(request, "", [], reason, with_counts=False), [])
            return
        try:
            tokens, reason = owner._tokens(request)
        except Exception as exc:  # noqa: BLE001 - a failing reply function is the server's 500
            self._send_json(500, {"error": f"reply function failed: {exc}"})
            return
        error = script.error if script is not None else None
        self._answer(stream, owner._final(request, "".join(tokens), tokens, reason), tokens, error)

    def _answer(
        self, stream: bool, final: dict[str, Any], tokens: list[str], error: str | None = None
    ) -> None:
        owner = self.server.owner
        if not stream:
            if error is not None:
                self._send_json(500, {"error": error})
            else:
                self._send_json(200, final)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"model": final["model"]}
        for index, token in enumerate(tokens):
            if index == owner.pause_after and not owner._wait_resume():
                self.close_connection = True
                return
            line = {
                **base,
                "created_at": _now(),
                "message": {"role": "assistant", "content": token},
                "done": False,
            }
            self._chunk(json.dumps(line).encode() + b"\n")
            if error is not None:
                self._chunk(json.dumps({"error": error}).encode() + b"\n")
                self._chunk(b"")
                return
            if owner.chunk_delay and not owner._sleep(owner.chunk_delay):
                self.close_connection = True
                return
        self._chunk(json.dumps({**final, "message": {"role": "assistant", "content": ""}}).encode() + b"\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_scripted(self, script: ScriptedResponse) -> None:
        if script.body is None:
            self._send_json(
                script.status, {"error": script.error or f"scripted error {script.status}"}, script.headers
            )
            return
        data = script.body.encode() if isinstance(script.body, str) else script.body
        try:
            json.loads(data)
            content_type = "application/json; charset=utf-8"
        except ValueError:
            content_type = "text/plain; charset=utf-8"
        self._send(script.status, data, content_type, script.headers)

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", extra)

    def _send(self, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
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


class FakeOllamaServer:
    """A real Ollama-compatible HTTP server on 127.0.0.1 (OS-chosen port), in a daemon thread.

    `reply` is the answer text, or a function of the parsed `/api/chat` request returning it. `models`
    are the installed models (`name` or `name:tag`; `/api/tags` lists them, others get 404). `delay` is
    slept before each chat answer, `chunk_delay` between streamed tokens. With `pause_after=N`, a stream
    sends N tokens and waits for `resume()` (after which streams no longer pause); without it
    (`pause_timeout` s) the connection is cut, so a client that buffers the whole body fails the test.
    """

    def __init__(
        self,
        reply: Reply = "ok",
        *,
        models: Iterable[str] = ("llama3.2", "qwen2.5:0.5b"),
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        pause_after: int | None = None,
        pause_timeout: float = 20.0,
        version: str = VERSION,
        port: int = 0,
    ) -> None:
        self.reply = reply
        self.models = [full_name(m) for m in models]
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.pause_after = pause_after
        self.pause_timeout = pause_timeout
        self.version = version
        self.requested_port = port
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._script: deque[ScriptedResponse] = deque()
        self._stopping = threading.Event()
        self._resumed = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's address, e.g. `http://127.0.0.1:54321` (what a model's `url` holds)."""
        if self._server is None:
            raise RuntimeError("FakeOllamaServer is not started; call start() or use it in a `with` block")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The `POST /api/chat` requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.rstrip("/") == "/api/chat"]

    def push(
        self,
        *,
        status: int = 200,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Queue a one-shot answer for the next `/api/chat` request (consumed in order).

        A non-2xx `status` without `body` sends Ollama's `{"error": error}`. A `body` is sent as is. A 2xx
        status with `error` streams one token and then the `{"error": ...}` line, as Ollama does when
        generation fails midway (a 500 with that error when not streaming). `delay` replaces the default.
        """
        with self._lock:
            self._script.append(ScriptedResponse(status, body, dict(headers or {}), delay, error))

    def resume(self) -> None:
        """Let streams held by `pause_after` go on."""
        self._resumed.set()

    def start(self) -> FakeOllamaServer:
        """Bind a free port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeOllamaServer:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake waiting handlers and close every open connection; never hangs."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        self._resumed.set()
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

    def __enter__(self) -> FakeOllamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- used by the handler -----------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_script(self) -> ScriptedResponse | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _sleep(self, seconds: float) -> bool:
        """Sleep; False when the server is stopping (the handler then gives up)."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()

    def _wait_resume(self) -> bool:
        """Wait for `resume()`; False (the stream is cut) when it never comes or the server stops."""
        return self._resumed.wait(timeout=self.pause_timeout) and not self._stopping.is_set()

    def _has(self, model: str) -> bool:
        return full_name(model) in self.models

    def _tag(self, name: str) -> dict[str, Any]:
        family = re.split(r"[^a-z]", name.lower(), maxsplit=1)[0] or "llama"
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-01-01T00:00:00.000000000Z",
            "size": 397821319,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": "494.03M",
                "quantization_level": "Q4_K_M",
            },
        }

    def _tokens(self, request: dict[str, Any]) -> tuple[list[str], str]:
        """The answer's tokens after `num_predict` and `stop`, and the done_reason."""
        text = self.reply(request) if callable(self.reply) else self.reply
        text = text if isinstance(text, str) else str(text)
        options = request.get("options") if isinstance(request.get("options"), dict) else {}
        stops = options.get("stop") or []
        cut = min((text.find(s) for s in stops if isinstance(s, str) and s and s in text), default=-1)
        tokens = pieces(text[:cut] if cut >= 0 else text)
        limit = options.get("num_predict")
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            return tokens[:limit], "length"
        return tokens, "stop"

    def _final(
        self, request: dict[str, Any], text: str, tokens: list[str], reason: str, *, with_counts: bool = True
    ) -> dict[str, Any]:
        final: dict[str, Any] = {
            "model": request["model"],
            "created_at": _now(),
            "message": {"role": "assistant", "content": text},
            "done_reason": reason,
            "done": True,
        }
        if with_counts:
            messages = request.get("messages") or []
            prompt = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
            final.update(
                total_duration=5_000_000 + 1_000_000 * len(tokens),
                load_duration=2_000_000,
                prompt_eval_count=prompt,
                prompt_eval_duration=1_000_000,
                eval_count=len(tokens),
                eval_duration=1_000_000 * max(len(tokens), 1),
            )
        return final
