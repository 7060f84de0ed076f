"""`POST /v1/chat/completions`: one request through the pipeline, answered as JSON or as server-sent events.

A client that goes away cancels the pipeline's run (and with it the backend call behind it; see
`signals.py`): a whole answer's run takes place in the request's own task, a streamed answer's in a
task of its own, which the response's end cancels. A streamed answer commits to HTTP 200 only once the
first piece of text exists: a failure before that is still a proper HTTP error.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llmnet_core import (
    BackendTimeoutError,
    LLMNetError,
    StepTimeoutError,
    UnsupportedFeatureError,
    UsageError,
)

from .completions import TextChunkWriter, parse_completion_request, text_completion
from .pieces import EventPieces, streamed_answer, whole_answer
from .signals import DisconnectWatch, signals_of
from .state import STATE, ServeState
from .wire import (
    ChatInput,
    ChunkWriter,
    RequestError,
    completion,
    error_body,
    parse_chat_request,
    request_id_from,
)

if TYPE_CHECKING:
    from llmnet_core import RunResult

    from .stats import Stats

log = logging.getLogger("llmnet.serve")
JSON = "application/json"
_JSON_BYTES = JSON.encode("latin-1")
_DONE = object()
_TRUE = frozenset({"1", "true", "yes", "on"})
_WORD = re.compile(r"(?<!^)(?=[A-Z])")
#: status of a response whose client already left (never delivered; shows in access logs)
CLIENT_CLOSED = 499


async def chat_completions(request: Request) -> Response:
    """`POST /v1/chat/completions`: a chat completion (see `complete`)."""
    return await complete(request.scope, request.receive, parse_chat_request)


async def completions(request: Request) -> Response:
    """`POST /v1/completions`: a legacy text completion (see `completions.py` and `complete`)."""
    return await complete(request.scope, request.receive, parse_completion_request)


async def complete(scope: Scope, receive: Receive, parse: Callable[..., ChatInput]) -> Response:
    """Validate, run the pipeline, answer as OpenAI does; errors are HTTP errors with JSON bodies. Takes
    the request's scope and `receive` rather than a Starlette `Request` (not needed, ~1 % of a request).

    A request counts against --max-concurrent only once its whole body has arrived (which --read-timeout
    bounds), so that clients sending slowly cannot hold the slots of those waiting for an answer."""
    state: ServeState = scope[STATE]
    stats = state.stats
    stats.total += 1
    head = dict(reversed(scope["headers"]))  # by lower-case name; the first of repeated ones
    request_id = request_id_from(head.get(b"x-request-id", b"").decode("latin-1")) or state.new_id()
    headers = {"x-request-id": request_id}
    try:
        if state.api_key is not None:
            state.check_key(head.get(b"authorization", b"").decode("latin-1"))
        length = head.get(b"content-length")
        signals = signals_of(scope)
        body = await read_body(
            receive,
            None if length is None else length.decode("latin-1"),
            state.max_body,
            state.settings.read_timeout,
            arrived=signals is not None and signals.body_complete,
        )
        chat = parse(body, allow_variables=state.settings.allow_client_variables)
        if stats.in_flight >= state.max_concurrent:
            raise RequestError(
                429, f"too many requests in flight (--max-concurrent {state.max_concurrent}); retry shortly"
            )
    except RequestError as exc:
        stats.rejected += 1
        return error_response(exc, headers)
    except ClientDisconnect:
        stats.cancelled += 1
        return Response(status_code=CLIENT_CLOSED, headers=headers)
    stats.in_flight += 1
    handed_over = False
    try:
        trace = chat.trace or head.get(b"x-llmnet-trace", b"").decode("latin-1").lower() in _TRUE
        if not chat.stream:
            return await _plain(state, scope, receive, chat, request_id, trace, headers)
        stats.streamed += 1
        response = await _streamed(state, scope, receive, chat, request_id, trace, headers)
        handed_over = isinstance(response, EventStream)
        return response
    finally:
        if not handed_over:
            stats.in_flight -= 1


async def read_body(
    receive: Receive, length: str | None, limit: int, timeout: float, *, arrived: bool = False
) -> bytes:
    """The request body, refused with 413 past `limit` bytes (by its Content-Length `length`, and as it
    arrives), and with 408 when it has not all arrived within `timeout` seconds; ClientDisconnect when
    the client went away first. A body that has `arrived` (the protocol says so) needs no deadline."""
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise RequestError(400, f"invalid Content-Length {length!r}") from None
        if declared > limit:
            raise _too_large(declared, limit)
    if arrived:
        return await _receive_body(receive, limit)
    try:
        async with asyncio.timeout(timeout):
            return await _receive_body(receive, limit)
    except TimeoutError:
        message = f"the request body did not arrive within {timeout:g} s (--read-timeout)"
        raise RequestError(408, message, code="request_timeout") from None


async def _receive_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = event.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit, at_least=True)
            chunks.append(chunk)
        if not event.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> RequestError:
    more = "more than " if at_least else ""
    return RequestError(
        413, f"the request body is {more}{size} bytes; this server accepts at most {limit} (--max-body)"
    )


def error_response(exc: RequestError, headers: dict[str, str] | None = None) -> Response:
    """An OpenAI-style JSON error for a RequestError; a 401 also says how to authenticate."""
    headers = headers or {}
    if exc.status == 401:
        headers = {**headers, "www-authenticate": "Bearer"}
    elif exc.status == 408:
        headers = {**headers, "connection": "close"}  # the rest of the body is not waited for
    body = error_body(exc.status, exc.message, param=exc.param, code=exc.code)
    return JSONBytes(body, exc.status, headers)


def describe_failure(exc: BaseException, redact: Callable[[str], str]) -> tuple[int, str, str]:
    """HTTP status, message and code for a failed run: 400 for the core refusing the request itself, 504
    for a step that timed out (a model call, an aborting hook, a ws node), 502 for other pipeline errors.

    The core checks a request's messages and parameters before the request enters the pipeline, so a
    UsageError without a trace is the client's mistake; one raised at a node (a model's `$ENV` API key
    that is not set) is the server's configuration, and stays a pipeline error; but a request that asks
    its answering node for what it cannot do (tools, a JSON schema...) is the client's, a 400."""
    if isinstance(exc, LLMNetError):
        message = redact(exc.message) + (f" ({redact(exc.hint)})" if exc.hint else "")
        if isinstance(exc, UnsupportedFeatureError):  # the node was asked what it cannot do
            return 400, message, "unsupported_feature"
        if isinstance(exc, UsageError) and exc.trace is None:
            return 400, message, "invalid_request"
        if isinstance(exc, StepTimeoutError):
            return 504, message, "backend_timeout" if isinstance(exc, BackendTimeoutError) else "step_timeout"
        return 502, message, _WORD.sub("_", type(exc).__name__).lower()
    if isinstance(exc, TimeoutError):
        return 504, "the pipeline timed out", "timeout"
    return 500, redact(f"internal error: {type(exc).__name__}: {exc}"), "internal_error"


def _failure(state: ServeState, exc: BaseException, request_id: str, trace_wanted: bool) -> tuple[int, bytes]:
    """Count and log a failed run; returns its status and the error body (with the trace when asked, and
    the request field at fault when there is one)."""
    redact = state.pipeline.redactor
    status, message, code = describe_failure(exc, redact)
    trace = getattr(exc, "trace", None)
    state.stats.record(trace, failed=True)
    if status == 500:
        log.error("request %s: %s", request_id, message, exc_info=exc)
    else:
        log.warning("request %s failed (HTTP %d): %s", request_id, status, message)
    trace_dict = trace.to_dict(redact) if trace_wanted and trace is not None else None
    param = exc.param if isinstance(exc, UnsupportedFeatureError) else None
    return status, error_body(status, message, param=param, code=code, trace=trace_dict)


def _run(
    state: ServeState, chat: ChatInput, request_id: str, on_piece: Any = None
) -> Coroutine[Any, Any, RunResult]:
    """The pipeline's run of the request; a streamed answer's pieces go to `on_piece`: text, or
    `StreamChunk`s when the request asks for tools or logprobs."""
    variables = {**chat.variables, **state.variables} if chat.variables else state.variables
    rich = chat.answer.offers_tools or chat.answer.logprobs
    return state.pipeline.run(
        chat.messages,
        variables=variables,
        on_token=None if rich else on_piece,
        request_id=request_id,
        parameters=chat.parameters,
        source="serve",
        answer=chat.answer,
        on_chunk=on_piece if rich else None,
    )


def _start(state: ServeState, chat: ChatInput, request_id: str, on_piece: Any = None) -> asyncio.Task[Any]:
    """Run the pipeline in a task of its own (see `_run`)."""
    return asyncio.create_task(_run(state, chat, request_id, on_piece))


class JSONBytes(Response):
    """A response whose body is JSON bytes already, its headers made directly: those given, then the
    length and type, as Starlette's `Response` makes them (at a fraction of the cost)."""

    media_type = JSON

    def __init__(self, content: bytes, status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = content
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        raw += [(b"content-length", str(len(content)).encode("latin-1")), (b"content-type", _JSON_BYTES)]
        self.raw_headers = raw


async def _plain(
    state: ServeState,
    scope: Scope,
    receive: Receive,
    chat: ChatInput,
    request_id: str,
    trace: bool,
    headers: dict[str, str],
) -> Response:
    # the pipeline runs in this task (one task less per request); a client that goes away cancels it
    this = asyncio.current_task()
    assert this is not None
    watch = DisconnectWatch(scope, receive, this)
    try:
        result = await _run(state, chat, request_id)
    except asyncio.CancelledError:
        if watch.disconnected:
            this.uncancel()
            state.stats.cancelled += 1
            return Response(status_code=CLIENT_CLOSED, headers=headers)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an HTTP error
        status, body = _failure(state, exc, request_id, trace)
        return JSONBytes(body, status, headers)
    finally:
        watch.stop()  # nothing is awaited between the end of the run and here: no cancel can slip in
    state.stats.record(result.trace, failed=False)
    redact = state.pipeline.redactor
    text, calls, logprobs = whole_answer(result, redact)
    reason = result.finish_reason or "stop"
    trace_dict = result.trace.to_dict(redact) if trace else None
    answer = (request_id, int(time.time()), state.model_id, text, result.usage.to_dict(), trace_dict, reason)
    body = text_completion(*answer) if chat.legacy else completion(*answer, calls, logprobs)
    return JSONBytes(body, 200, headers)


async def _streamed(
    state: ServeState,
    scope: Scope,
    receive: Receive,
    chat: ChatInput,
    request_id: str,
    trace: bool,
    headers: dict[str, str],
) -> Response:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = _start(state, chat, request_id, queue.put_nowait)
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    watch = DisconnectWatch(scope, receive, task)
    try:
        first = await queue.get()
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watch.stop()
    writer = (TextChunkWriter if chat.legacy else ChunkWriter)(request_id, int(time.time()), state.model_id)
    headers = {**headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
    if first is not _DONE:
        events = _events(state, writer, queue, task, first, chat.include_usage, trace, request_id)
        return EventStream(events, task=task, stats=state.stats, headers=headers)
    if task.cancelled():
        state.stats.cancelled += 1
        return Response(status_code=CLIENT_CLOSED, headers=headers)
    exc = task.exception()
    if exc is not None:
        status, body = _failure(state, exc, request_id, trace)
        return JSONBytes(body, status, headers)
    # the last node did not stream (post-hooks, ws node...): the whole answer goes in one event stream
    result = task.result()
    state.stats.record(result.trace, failed=False)
    redact = state.pipeline.redactor
    trace_dict = result.trace.to_dict(redact) if trace else None
    pieces = EventPieces(writer, redact)
    parts = [*pieces.feed(streamed_answer(result)), *pieces.end()]
    parts += _closing(writer, result, chat.include_usage, trace_dict)
    return Response(b"".join(parts), headers=headers, media_type="text/event-stream")


def _closing(writer: ChunkWriter, result: RunResult, include_usage: bool, trace: Any) -> list[bytes]:
    """The events after the text: finish reason, usage when asked, the trace on the last one, [DONE]."""
    reason = result.finish_reason or "stop"
    if include_usage:
        return [writer.finish(reason=reason), writer.usage(result.usage.to_dict(), trace), ChunkWriter.DONE]
    return [writer.finish(trace, reason), ChunkWriter.DONE]


async def _events(
    state: ServeState,
    writer: ChunkWriter,
    queue: asyncio.Queue[Any],
    task: asyncio.Task[Any],
    first: Any,
    include_usage: bool,
    trace: bool,
    request_id: str,
) -> AsyncIterator[bytes]:
    """The SSE body: the first piece (with the role), more as they come, then the closing events.

    The answer is masked as a stream (see `pieces.py`): a secret split across pieces is masked too, and
    the few characters that may begin one wait for the next piece (or the end)."""
    redact = state.pipeline.redactor
    pieces = EventPieces(writer, redact)
    for event in pieces.feed([first]):
        yield event
    done = False
    while not done:
        items = [await queue.get()]
        while not queue.empty():
            items.append(queue.get_nowait())
        if items[-1] is _DONE:
            items.pop()
            done = True
        if items and all(isinstance(item, str) for item in items):
            items = ["".join(items)]
        for event in pieces.feed(items):
            yield event
    if task.cancelled():
        return
    for event in pieces.end():
        yield event
    exc = task.exception()
    if exc is not None:
        _, body = _failure(state, exc, request_id, trace)
        yield b"data: " + body + b"\n\n"  # an error event ends the stream, without [DONE]
        return
    result = task.result()
    state.stats.record(result.trace, failed=False)
    trace_dict = result.trace.to_dict(redact) if trace else None
    for event in _closing(writer, result, include_usage, trace_dict):
        yield event


class EventStream(StreamingResponse):
    """A server-sent event stream that owns its pipeline task: when the stream ends early (the client
    disconnected), the task is cancelled, which closes the backend call behind it."""

    def __init__(
        self, content: AsyncIterator[bytes], *, task: asyncio.Task[Any], stats: Stats, headers: dict[str, str]
    ) -> None:
        super().__init__(content, headers=headers, media_type="text/event-stream")
        self._task = task
        self._stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stats.in_flight -= 1
            if not self._task.done():
                self._task.cancel()
                self._stats.cancelled += 1
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
