"""A fake OpenAI-compatible server: `FakeOpenAIServer`, a real HTTP/1.1 server on 127.0.0.1.

It answers `/v1/chat/completions` (plain JSON and SSE streaming) and `/v1/models` with keep-alive,
records every request, and can be scripted with one-shot responses (errors, rate limits, garbage, slow
answers, streams cut short). It runs in its own thread, so sync and async tests alike can use it:

    with FakeOpenAIServer(reply="hello world") as server:
        ...  # point a model's `url` at server.url
        assert server.chat_requests[0].json["model"] == "m"

`hook_composition` builds a composition for hook tests whose model is such a server.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from .http import (
    CUT_STREAMS,
    FakeHTTPHandler,
    FakeHTTPServer,
    RecordedRequest,
    ScriptedResponse,
    count_words,
    free_port,
    word_pieces,
)
from .structured import STRUCTURED_MODES, Refusal, asks_structured_openai, openai_text
from .tools import (
    ToolCalls,
    conversation_problem,
    forced,
    logprobs_problem,
    openai_calls,
    openai_deltas,
    token_logprobs,
)

__all__ = ["FAULTS", "STREAM_FAULTS", "FakeOpenAIServer", "hook_composition"]

Reply = str | Callable[[dict[str, Any]], str | ToolCalls]
#: how `push(stream_fault=...)` ends a streamed answer early (see `FakeOpenAIServer.push`)
STREAM_FAULTS = (*CUT_STREAMS, "only-done", "empty-choices")
DONE = b"data: [DONE]\n\n"
#: the faults a model URL `.../fault/<name>` (see `FakeOpenAIServer.fault_url`) or the server's `fault`
#: option script; `"refuse"` is a closed port
FAULTS = (
    "refuse",
    "500",
    "429",
    "garbage",
    "wrong-shape",
    "empty-choices",
    "only-done",
    "slow",
    "truncated",
    "reset",
    "huge",
    "echo-key",
    "echo-key-escaped",
    "echo-key-base64",
    "echo-key-split",
)
#: the faults whose answer is whole: the normal reply, made huge or with the request's API key in it
WHOLE_ANSWER_FAULTS = ("huge", "echo-key", "echo-key-escaped", "echo-key-base64", "echo-key-split")
GARBAGE = b"<html><body>\x00\xff\xfe Bad Gateway }{ not json</body></html>"
_FAULT_PATH = re.compile(r"/fault/([^/]+)(/.*)?$")


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
        fault: str | None = None
        if match := _FAULT_PATH.match(path):
            fault, path = match.group(1), match.group(2) or "/"
            if fault not in FAULTS:
                known = ", ".join(FAULTS)
                self._send_error(404, f"unknown fault {fault!r}; known: {known}", "not_found_error")
                return
        route = path.rstrip("/")
        if route in ("/v1/chat/completions", "/chat/completions"):
            if self.command != "POST":
                self._send_error(405, f"method {self.command} not allowed on {path}")
                return
            if fault is None and owner.fault is not None and isinstance(recorded.json, dict):
                fault = owner.fault(recorded.json) if callable(owner.fault) else owner.fault
            if fault is not None:
                self._fault(recorded, fault)
            else:
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
        problem = conversation_problem(request["messages"]) or logprobs_problem(request)
        if problem is not None:
            self._send_error(400, problem)
            return
        try:
            reply = forced(request, owner._answer_for(request))
            text = owner._structured(request, reply) if isinstance(reply, str) else ""
        except Refusal as exc:  # a structured-output request this server refuses
            self._send_error(400, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a failing reply function becomes a 500
            self._send_error(500, f"reply function failed: {exc}", "server_error")
            return
        if isinstance(reply, ToolCalls):
            calls = openai_calls(reply)
            if request.get("stream") is True:
                self._stream_calls(request, reply, calls, status, extra)
            else:
                self.send_json(status, owner._completion(request, reply.content, calls), extra)
            return
        if request.get("stream") is True and script is not None and script.stream_fault is not None:
            self._cut_stream(request, text, script.stream_fault, extra)
        elif request.get("stream") is True:
            self._stream(request, text, status, extra)
        else:
            self.send_json(status, owner._completion(request, text), extra)

    def _fault(self, recorded: RecordedRequest, fault: str) -> None:
        """Answer a chat request with `fault` (one of `FAULTS`), whatever the queued scripts say."""
        owner = self.owner
        request = recorded.json
        if fault == "refuse":  # a listening server cannot refuse: abort before any answer
            self.abort()
            return
        if fault == "slow" and not owner.sleep(owner.slow_delay):
            self.close_connection = True
            return
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            self._send_error(400, "the request body must be a JSON object with a 'messages' list")
            return
        stream = request.get("stream") is True
        text = owner._reply_for(request)
        pieces = owner.pieces
        key = recorded.headers.get("authorization", "").removeprefix("Bearer ")
        if fault == "500":
            self._send_error(500, "the model crashed", "server_error")
        elif fault == "429":
            payload = {"error": {"message": "rate limited", "type": "rate_limit_error", "code": 429}}
            self.send_json(429, payload, {"Retry-After": str(owner.retry_after)})
        elif fault == "garbage":
            self.send_bytes(200, GARBAGE, "text/html; charset=utf-8")
        elif fault == "wrong-shape" and stream:
            self.begin_chunked(200, "text/event-stream")
            self.write_chunk(_sse({"result": {"text": text}}) + DONE)
            self.write_chunk(b"")
        elif fault == "wrong-shape":
            self.send_json(200, {"result": {"text": text}, "choices": "none"})
        elif fault in STREAM_FAULTS and stream:
            self._cut_stream(request, text, fault, {}, pieces)
        elif fault in CUT_STREAMS:
            body = json.dumps(owner._completion(request, text)).encode()
            self.send_cut_body(fault, "application/json", body)
        elif fault == "only-done":
            self.send_bytes(200, b"", "application/json")
        elif fault == "empty-choices":
            self.send_json(200, {**owner._completion(request, text), "choices": []})
        else:
            if fault == "huge":
                words = "lorem ipsum dolor sit amet " * (owner.huge_size // 27 + 1)
                text, pieces = f"{text} {words[: owner.huge_size]}", _in_blocks
            elif fault.startswith("echo-key"):
                text = f"{text} key={_echoed(key, fault)} ok"
                if fault == "echo-key-split":
                    pieces = _in_threes
            if stream:
                self._stream(request, text, 200, {}, pieces)
            else:
                self.send_json(200, owner._completion(request, text))

    def _stream(
        self,
        request: dict[str, Any],
        text: str,
        status: int,
        extra: dict[str, str],
        pieces: Callable[[str], list[str]] | None = None,
    ) -> None:
        owner = self.owner
        self.begin_chunked(status, "text/event-stream", {"Cache-Control": "no-cache", **extra})
        base = owner._chunk_base(request)
        events: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        ]
        for piece in (pieces or owner.pieces)(text):
            choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            if request.get("logprobs") is True:
                choice["logprobs"] = {"content": token_logprobs([piece], request.get("top_logprobs") or 0)}
            events.append({**base, "choices": [choice]})
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self._send_events(request, events, text)

    def _stream_calls(
        self,
        request: dict[str, Any],
        reply: ToolCalls,
        calls: list[dict[str, Any]],
        status: int,
        extra: dict[str, str],
    ) -> None:
        """A streamed answer that calls tools, as OpenAI streams one: the role (and any text), each call's
        id and name, its arguments in pieces, then `finish_reason: "tool_calls"`."""
        self.begin_chunked(status, "text/event-stream", {"Cache-Control": "no-cache", **extra})
        base = self.owner._chunk_base(request)
        opening = {"role": "assistant", "content": reply.content}
        events = [{**base, "choices": [{"index": 0, "delta": opening, "finish_reason": None}]}]
        events += [
            {**base, "choices": [{"index": 0, "delta": {"tool_calls": piece}, "finish_reason": None}]}
            for piece in openai_deltas(calls)
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        self._send_events(request, events, " ".join(c["function"]["arguments"] for c in calls))

    def _send_events(self, request: dict[str, Any], events: list[dict[str, Any]], text: str) -> None:
        """Write the events of a begun stream, the usage event when asked, then [DONE]."""
        owner = self.owner
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            events.append({**owner._chunk_base(request), "choices": [], "usage": owner._usage(request, text)})
        for event in events:
            self.write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            if owner.chunk_delay and not owner.sleep(owner.chunk_delay):
                self.close_connection = True
                return
        self.write_chunk(DONE)
        self.write_chunk(b"")

    def _cut_stream(
        self,
        request: dict[str, Any],
        text: str,
        fault: str,
        extra: dict[str, str],
        cut: Callable[[str], list[str]] | None = None,
    ) -> None:
        """A streamed answer that ends before it is whole: its pieces without a finish_reason or
        [DONE] ("truncated", "reset"), only [DONE], or only chunks with empty `choices` and [DONE]."""
        base = self.owner._chunk_base(request)
        pieces = [{"index": 0, "delta": {"role": "assistant", "content": ""}}]
        pieces += [
            {"index": 0, "delta": {"content": p}, "finish_reason": None}
            for p in (cut or self.owner.pieces)(text)
        ]
        if fault == "only-done":
            parts, fault = [DONE], "truncated"
        elif fault == "empty-choices":
            parts, fault = [_sse({**base, "choices": []}) for _ in pieces] + [DONE], "truncated"
        else:
            parts = [_sse({**base, "choices": [piece]}) for piece in pieces]
        self.send_cut_stream(fault, "text/event-stream", parts, {"Cache-Control": "no-cache", **extra})

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


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _in_threes(text: str) -> list[str]:
    return [text[i : i + 3] for i in range(0, len(text), 3)]


def _in_blocks(text: str) -> list[str]:
    return [text[i : i + 8192] for i in range(0, len(text), 8192)]


def _echoed(key: str, fault: str) -> str:
    """The request's API key as an `echo-key*` fault quotes it."""
    if fault == "echo-key-escaped":
        return json.dumps(key)[1:-1]
    if fault == "echo-key-base64":
        basic = base64.b64encode(f"svc:{key}".encode()).decode()
        return f"{base64.b64encode(key.encode()).decode()} (basic {basic})"
    return key


class FakeOpenAIServer(FakeHTTPServer):
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (OS-chosen port), running in a daemon thread.

    `reply` is the answer text, or a function of the parsed request JSON returning it; `port` 0 picks a
    free port. `delay` (seconds) is slept before every answer (timeout tests); `chunk_delay` between
    streamed chunks. `pieces` cuts a streamed answer into its chunks (default `word_pieces`; e.g.
    `lambda text: [text[i : i + 3] for i in range(0, len(text), 3)]` splits every word, a secret too).
    Tokens are counted as words. `push()` queues one-shot responses for chat
    completion requests. `.url` is the address without `/v1`.

    Faults for fault-injection tests: a model whose `url` is `fault_url(name)` (`.../fault/<name>`,
    the first path segment) gets fault `name` on every chat request, so one server serves all of
    `FAULTS` at once; `fault` (a name, or a function of the request JSON returning one or None) does the
    same for the server's own paths. `"slow"` answers after `slow_delay` seconds, `"429"` says
    `Retry-After: retry_after`, `"huge"` adds `huge_size` characters to the reply, `"truncated"` and
    `"reset"` cut a stream (or a plain body half-way), the `"echo-key*"` faults add the request's API key
    to the reply as is, JSON-escaped, in base64 (also as HTTP basic auth) or streamed in 3-character
    pieces.

    Structured outputs (`structured`): "follow" answers `response_format` (`json_object`, `json_schema`,
    strict schemas checked as OpenAI does) and vLLM's `guided_choice` / `structured_outputs.choice` as a
    server that supports them does, the reply made valid under them (see `llmnet_testing.structured`);
    "reject" refuses such requests with HTTP 400, as a server without support does; "ignore" (the
    default) answers the plain reply, as a server that drops fields it does not know does.

    Tools and log-probabilities (see `llmnet_testing.tools`): a reply function that returns
    `ToolCalls(...)` makes the model call tools the request offers, answered and streamed as OpenAI does
    (`tool_calls` with ids, arguments in pieces, `finish_reason: "tool_calls"`); a conversation whose tool
    messages OpenAI would refuse gets its HTTP 400; `logprobs` (and `top_logprobs`) give each token's.
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
        pieces: Callable[[str], list[str]] = word_pieces,
        fault: str | Callable[[dict[str, Any]], str | None] | None = None,
        slow_delay: float = 30.0,
        retry_after: int = 120,
        huge_size: int = 1_000_000,
        structured: str = "ignore",
    ) -> None:
        super().__init__(delay=delay, chunk_delay=chunk_delay, port=port)
        if isinstance(fault, str) and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"unknown structured mode {structured!r}; known: {', '.join(STRUCTURED_MODES)}")
        self.structured = structured
        self.reply = reply
        self.name = name
        self.pieces = pieces
        self.fault = fault
        self.slow_delay = slow_delay
        self.retry_after = retry_after
        self.huge_size = huge_size

    def fault_url(self, fault: str) -> str:
        """A model `url` whose chat requests get `fault` (one of `FAULTS`): `.../fault/<name>` on this
        server, or for `"refuse"` the address of a closed port."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if fault == "refuse":
            return f"http://127.0.0.1:{free_port()}"
        return f"{self.url}/fault/{fault}"

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
        stream_fault: str | None = None,
    ) -> None:
        """Queue a one-shot response for the next chat completion request (consumed in order).

        `body=None` with a 2xx status gives the normal answer (after `delay`, which replaces the server's
        default delay for that request); with another status, an OpenAI-style JSON error. A given `body`
        is sent as is (as JSON when it parses, else as text/plain) unless `headers` set Content-Type.
        `stream_fault` cuts a streamed normal answer short: `"truncated"` (its pieces, then a clean end
        with no finish_reason and no [DONE]), `"reset"` (its pieces in a body without a length, then a
        TCP reset), `"only-done"` (just [DONE]) or `"empty-choices"` (chunks with `choices: []`, [DONE]).
        """
        if stream_fault is not None and stream_fault not in STREAM_FAULTS:
            raise ValueError(f"unknown stream_fault {stream_fault!r}; known: {', '.join(STREAM_FAULTS)}")
        self.queue(ScriptedResponse(status, body, dict(headers or {}), delay, stream_fault))

    # -- the answers -------------------------------------------------------------------------------

    def _answer_for(self, request: dict[str, Any]) -> str | ToolCalls:
        """The reply to `request`: a text, or the tool calls the reply function asks for."""
        reply = self.reply(request) if callable(self.reply) else self.reply
        return reply if isinstance(reply, str | ToolCalls) else str(reply)

    def _reply_for(self, request: dict[str, Any]) -> str:
        reply = self._answer_for(request)
        return reply if isinstance(reply, str) else str(reply)

    def _structured(self, request: dict[str, Any], text: str) -> str:
        """The reply under the request's structured-output fields, as `structured` says this server
        treats them; raises Refusal for a request it answers with HTTP 400."""
        if self.structured == "ignore" or not asks_structured_openai(request):
            return text
        if self.structured == "reject":
            raise Refusal(
                "Unrecognized request arguments: this server does not support structured outputs "
                "(response_format json_schema, guided_choice, structured_outputs)"
            )
        return openai_text(request, text)

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

    def _completion(
        self, request: dict[str, Any], text: str | None, calls: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A whole answer: `text`, or the tool `calls` (with any text before them); log-probabilities of
        the text's tokens when the request asks for them."""
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        if calls:
            choice["message"]["tool_calls"] = calls
            choice["finish_reason"] = "tool_calls"
        if request.get("logprobs") is True:
            tokens = token_logprobs(self.pieces(text or ""), request.get("top_logprobs") or 0)
            choice["logprobs"] = {"content": tokens, "refusal": None}
        spent = " ".join([text or "", *(c["function"]["arguments"] for c in calls or ())])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model(request),
            "choices": [choice],
            "usage": self._usage(request, spent),
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
