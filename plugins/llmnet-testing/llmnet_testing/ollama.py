"""A fake Ollama server for tests: a real HTTP/1.1 server on 127.0.0.1 speaking Ollama's native API.

`POST /api/chat` answers one JSON object with `"stream": false`, else (the default) NDJSON lines
(`application/x-ndjson`, chunked): one object per token, then `"done": true` with `done_reason`,
`prompt_eval_count`, `eval_count` and durations (ns). It honours `options.num_predict` ("length"),
`options.stop` and `format` (JSON, or a JSON schema); empty `messages` load (or, with
`keep_alive: 0`, unload) the model; an unknown model gets 404
`{"error": "model \"x\" not found, try pulling it first"}`. `GET /api/tags`, `GET /api/version` and
`GET /` ("Ollama is running") work too; other paths get 404 "404 page not found". Tokens are word
pieces (`" world"`). It records requests, takes one-shot scripts (`push`, streams cut short among
them) and can hold a stream until `resume()`. It is built on `FakeHTTPServer`, as `FakeOpenAIServer` is:

    with FakeOllamaServer(reply="Hello there", models=["llama3.2"]) as server:
        ...  # a models entry {"runner": "ollama", "url": server.url, "model": "llama3.2"}
        assert server.chat_requests[0].json["options"]["temperature"] == 0
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from .http import CUT_STREAMS, FakeHTTPHandler, FakeHTTPServer, RecordedRequest, ScriptedResponse, word_pieces
from .structured import STRUCTURED_MODES, Refusal, ollama_text
from .tools import ToolCalls, ToolRefusal, offered, ollama_calls

__all__ = ["FakeOllamaServer", "OllamaScriptedResponse"]

Reply = str | Callable[[dict[str, Any]], str | ToolCalls]
VERSION = "0.6.8"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class OllamaScriptedResponse(ScriptedResponse):
    """A one-shot answer for the next `/api/chat` request (see `FakeOllamaServer.push`)."""

    error: str | None = None


def full_name(name: str) -> str:
    """`llama3.2` → `llama3.2:latest`, as Ollama resolves a name without a tag."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Handler(FakeHTTPHandler):
    server_version = "FakeOllama/" + VERSION

    @property
    def owner(self) -> FakeOllamaServer:
        return cast(FakeOllamaServer, self.server.owner)

    def do_HEAD(self) -> None:
        self.route()

    def route(self) -> None:
        owner = self.owner
        recorded = self.record()
        route = (self.command, recorded.path.rstrip("/") or "/")
        if route in (("GET", "/"), ("HEAD", "/")):
            self.send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif route == ("GET", "/api/version"):
            self._send_json(200, {"version": owner.version})
        elif route == ("GET", "/api/tags"):
            self._send_json(200, {"models": [owner._tag(name) for name in owner.models]})
        elif route == ("POST", "/api/chat"):
            self._chat(recorded.body, recorded.json, owner.next_script())
        else:
            self.send_bytes(404, b"404 page not found", "text/plain")

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        self.send_json(status, payload, extra, content_type=JSON_TYPE)

    def _chat(self, raw: bytes, request: Any, script: OllamaScriptedResponse | None) -> None:
        owner = self.owner
        if not owner.sleep(script.delay if script is not None else owner.delay):
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
            reply = owner.reply(request) if callable(owner.reply) else owner.reply
            if isinstance(reply, ToolCalls):
                self._answer_calls(stream, request, reply)
                return
            tokens, reason = owner._tokens(request, reply)
        except Refusal as exc:  # a `format` this server does not take
            self._send_json(400, {"error": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - a failing reply function is the server's 500
            self._send_json(500, {"error": f"reply function failed: {exc}"})
            return
        if stream and script is not None and script.stream_fault is not None:
            lines = [_ndjson(self._token_line(request["model"], token)) for token in tokens]
            self.send_cut_stream(script.stream_fault, "application/x-ndjson", lines)
            return
        error = script.error if script is not None else None
        self._answer(stream, owner._final(request, "".join(tokens), tokens, reason), tokens, error)

    def _answer_calls(self, stream: bool, request: dict[str, Any], reply: ToolCalls) -> None:
        """An answer that calls tools, as Ollama writes one: `message.tool_calls` (arguments as objects,
        no ids), streamed as one object before the `done` one; ToolRefusal for tools not offered."""
        names = offered(request)
        unknown = [name for name, _ in reply.calls if name not in names]
        if unknown:
            raise ToolRefusal(f"the reply calls {unknown[0]!r}, which the request does not offer ({names})")
        calls = ollama_calls(reply)
        spent = [json.dumps(call["function"]["arguments"]) for call in calls]
        final = self.owner._final(request, reply.content or "", spent, "stop")
        if not stream:
            self._send_json(200, {**final, "message": {**final["message"], "tool_calls": calls}})
            return
        self.begin_chunked(200, "application/x-ndjson")
        line = self._token_line(final["model"], reply.content or "")
        self.write_chunk(_ndjson({**line, "message": {**line["message"], "tool_calls": calls}}))
        self.write_chunk(_ndjson({**final, "message": {"role": "assistant", "content": ""}}))
        self.write_chunk(b"")

    @staticmethod
    def _token_line(model: str, token: str) -> dict[str, Any]:
        """One streamed NDJSON object carrying a token (`done: false`)."""
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": token},
            "done": False,
        }

    def _answer(
        self, stream: bool, final: dict[str, Any], tokens: list[str], error: str | None = None
    ) -> None:
        owner = self.owner
        if not stream:
            if error is not None:
                self._send_json(500, {"error": error})
            else:
                self._send_json(200, final)
            return
        self.begin_chunked(200, "application/x-ndjson")
        for index, token in enumerate(tokens):
            if index == owner.pause_after and not owner._wait_resume():
                self.close_connection = True
                return
            self.write_chunk(_ndjson(self._token_line(final["model"], token)))
            if error is not None:
                self.write_chunk(json.dumps({"error": error}).encode() + b"\n")
                self.write_chunk(b"")
                return
            if owner.chunk_delay and not owner.sleep(owner.chunk_delay):
                self.close_connection = True
                return
        self.write_chunk(
            json.dumps({**final, "message": {"role": "assistant", "content": ""}}).encode() + b"\n"
        )
        self.write_chunk(b"")

    def _send_scripted(self, script: OllamaScriptedResponse) -> None:
        if script.body is None:
            self._send_json(
                script.status, {"error": script.error or f"scripted error {script.status}"}, script.headers
            )
            return
        self.send_as_given(script.status, script.body, script.headers, JSON_TYPE)


def _ndjson(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


class FakeOllamaServer(FakeHTTPServer):
    """A real Ollama-compatible HTTP server on 127.0.0.1 (OS-chosen port), in a daemon thread.

    `reply` is the answer text, or a function of the parsed `/api/chat` request returning it. `models`
    are the installed models (`name` or `name:tag`; `/api/tags` lists them, others get 404). `delay` is
    slept before each chat answer, `chunk_delay` between streamed tokens. With `pause_after=N`, a stream
    sends N tokens and waits for `resume()` (after which streams no longer pause); without it
    (`pause_timeout` s) the connection is cut, so a client that buffers the whole body fails the test.
    `.url` is what a model's `url` holds. With `structured="follow"`, `format` (`"json"` or a JSON
    schema) is followed as Ollama does, the reply made valid under it (see `llmnet_testing.structured`);
    "reject" answers a schema with HTTP 400, as an Ollama before 0.5 does; "ignore" (the default)
    answers the plain reply. A reply function that returns `ToolCalls(...)` calls tools the request
    offers, as Ollama does (see `llmnet_testing.tools`).
    """

    handler = _Handler

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
        structured: str = "ignore",
    ) -> None:
        super().__init__(delay=delay, chunk_delay=chunk_delay, port=port)
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"unknown structured mode {structured!r}; known: {', '.join(STRUCTURED_MODES)}")
        self.structured = structured
        self.reply = reply
        self.models = [full_name(m) for m in models]
        self.pause_after = pause_after
        self.pause_timeout = pause_timeout
        self.version = version
        self._resumed = threading.Event()

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
        stream_fault: str | None = None,
    ) -> None:
        """Queue a one-shot answer for the next `/api/chat` request (consumed in order).

        A non-2xx `status` without `body` sends Ollama's `{"error": error}`. A `body` is sent as is. A 2xx
        status with `error` streams one token and then the `{"error": ...}` line, as Ollama does when
        generation fails midway (a 500 with that error when not streaming). `delay` replaces the default.
        `stream_fault` cuts a streamed answer short, with no `done: true` object: `"truncated"` (its
        tokens, then a clean end) or `"reset"` (its tokens in a body without a length, then a TCP reset).
        """
        if stream_fault is not None and stream_fault not in CUT_STREAMS:
            raise ValueError(f"unknown stream_fault {stream_fault!r}; known: {', '.join(CUT_STREAMS)}")
        self.queue(
            OllamaScriptedResponse(
                status, body, dict(headers or {}), delay, stream_fault=stream_fault, error=error
            )
        )

    def resume(self) -> None:
        """Let streams held by `pause_after` go on."""
        self._resumed.set()

    def wake(self) -> None:
        """On stop: release streams held by `pause_after`."""
        self._resumed.set()

    # -- used by the handler -----------------------------------------------------------------------

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

    def _tokens(self, request: dict[str, Any], reply: Any = None) -> tuple[list[str], str]:
        """The answer's tokens after `num_predict` and `stop`, and the done_reason (`reply`: the reply
        function's answer, when the caller has it already)."""
        text = reply if reply is not None else self.reply(request) if callable(self.reply) else self.reply
        text = self._structured(request, text if isinstance(text, str) else str(text))
        options = request.get("options") if isinstance(request.get("options"), dict) else {}
        stops = options.get("stop") or []
        cut = min((text.find(s) for s in stops if isinstance(s, str) and s and s in text), default=-1)
        tokens = word_pieces(text[:cut] if cut >= 0 else text)
        limit = options.get("num_predict")
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            return tokens[:limit], "length"
        return tokens, "stop"

    def _structured(self, request: dict[str, Any], text: str) -> str:
        """The reply under the request's `format`, as `structured` says this server treats it; raises
        Refusal for a request it answers with HTTP 400 (an Ollama before 0.5 takes no schema)."""
        if self.structured == "ignore" or request.get("format") in (None, ""):
            return text
        if self.structured == "reject" and isinstance(request.get("format"), dict):
            raise Refusal(
                "json: cannot unmarshal object into Go struct field ChatRequest.format of type string"
            )
        return ollama_text(request, text)

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
