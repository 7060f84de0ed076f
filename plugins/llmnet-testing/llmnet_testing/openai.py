"""A fake OpenAI-compatible server: `FakeOpenAIServer`, a real HTTP/1.1 server on 127.0.0.1.

It answers `/v1/chat/completions` (plain JSON and SSE streaming) and `/v1/models` with keep-alive,
records every request, and can be scripted with one-shot responses (errors, rate limits, garbage, slow
answers). It runs in its own thread, so sync and async tests alike can use it:

    with FakeOpenAIServer(reply="hello world") as server:
        ...  # point a model's `url` at server.url
        assert server.chat_requests[0].json["model"] == "m"

`hook_composition` builds a composition for hook tests whose model is such a server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from .http import FakeHTTPHandler, FakeHTTPServer, RecordedRequest, ScriptedResponse, count_words, word_pieces

__all__ = ["FakeOpenAIServer", "hook_composition"]

Reply = str | Callable[[dict[str, Any]], str]


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


class _OpenAIHandler(FakeHTTPHandler):
    server_version = "FakeOpenAI/1.0"

    def do_PUT(self) -> None:
        self.route()

    def do_DELETE(self) -> None:
        self.route()

    @property
    def owner(self) -> FakeOpenAIServer:
        return cast(FakeOpenAIServer, self.server.owner)

    def route(self) -> None:
        owner = self.owner
        recorded = self.record()
        path = recorded.path
        route = path.rstrip("/")
        if route in ("/v1/chat/completions", "/chat/completions"):
            if self.command != "POST":
                self._send_error(405, f"method {self.command} not allowed on {path}")
                return
            self._chat(recorded, owner.next_script())
        elif route in ("/v1/models", "/models") and self.command == "GET":
            if not owner.sleep(owner.delay):
                return
            self.send_json(200, owner._models())
        else:
            self._send_error(404, f"no route for {self.command} {path}", "not_found_error")

    def _chat(self, recorded: RecordedRequest, script: ScriptedResponse | None) -> None:
        owner = self.owner
        delay = script.delay if script is not None else owner.delay
        if not owner.sleep(delay):
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
            self.send_json(status, owner._completion(request, text), extra)

    def _stream(self, request: dict[str, Any], text: str, status: int, extra: dict[str, str]) -> None:
        owner = self.owner
        self.begin_chunked(status, "text/event-stream", {"Cache-Control": "no-cache", **extra})
        base = owner._chunk_base(request)
        events: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        ]
        events += [
            {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            for piece in word_pieces(text)
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            events.append({**base, "choices": [], "usage": owner._usage(request, text)})
        for event in events:
            self.write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            if owner.chunk_delay and not owner.sleep(owner.chunk_delay):
                self.close_connection = True
                return
        self.write_chunk(b"data: [DONE]\n\n")
        self.write_chunk(b"")

    def _send_scripted(self, script: ScriptedResponse) -> None:
        if script.body is None:
            payload = {
                "error": {
                    "message": f"scripted error {script.status}",
                    "type": "server_error" if script.status >= 500 else "invalid_request_error",
                    "code": script.status,
                }
            }
            self.send_json(script.status, payload, script.headers)
            return
        self.send_as_given(script.status, script.body, script.headers)

    def _send_error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self.send_json(status, {"error": {"message": message, "type": kind, "code": status}})


class FakeOpenAIServer(FakeHTTPServer):
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (OS-chosen port), running in a daemon thread.

    `reply` is the answer text, or a function of the parsed request JSON returning it; `port` 0 picks a
    free port. `delay` (seconds) is slept before every answer (timeout tests); `chunk_delay` between
    streamed chunks. Tokens are counted as words. `push()` queues one-shot responses for chat
    completion requests. `.url` is the address without `/v1`.
    """

    handler = _OpenAIHandler

    def __init__(
        self,
        reply: Reply = "ok",
        *,
        name: str = "fake",
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        super().__init__(delay=delay, chunk_delay=chunk_delay, port=port)
        self.reply = reply
        self.name = name

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
        self.queue(ScriptedResponse(status, body, dict(headers or {}), delay))

    # -- the answers -------------------------------------------------------------------------------

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
