"""`POST /v1/chat/completions`: one request through the pipeline, answered as JSON or as server-sent events.

The pipeline runs in its own task, so that a client that goes away cancels it (and with it the backend
call behind it). A streamed answer commits to HTTP 200 only once the first piece of text exists: a
failure before that is still a proper HTTP error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
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
from .state import ServeState, serve_state
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
_DONE = object()
_TRUE = frozenset({"1", "true", "yes", "on"})
_WORD = re.compile(r"(?<!^)(?=[A-Z])")
#: status of a response whose client already left (never delivered; shows in access logs)
CLIENT_CLOSED = 499


async def chat_completions(request: Request) -> Response:
    """`POST /v1/chat/completions`: a chat completion (see `_complete`)."""
    return await _complete(request, parse_chat_request)


async def completions(request: Request) -> Response:
    """`POST /v1/completions`: a legacy text completion (see `completions.py` and `_complete`)."""
    return await _complete(request, parse_completion_request)


async def _complete(request: Request, parse: Callable[..., ChatInput]) -> Response:
    """Validate, run the pipeline, answer as OpenAI does; errors are HTTP errors with JSON bodies.

    A request counts against --max-concurrent only once its whole body has arrived (which --read-timeout
    bounds), so that clients sending slowly cannot hold the slots of those waiting for an answer."""
    state = serve_state(request)
    stats = state.stats
    stats.total += 1
    request_id = request_id_from(request.headers.get("x-request-id")) or os.urandom(16).hex()
    headers = {"x-request-id": request_id}
    try:
        state.check_auth(request)
        body = await read_body(request, state.max_body, state.settings.read_timeout)
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
        trace = chat.trace or request.headers.get("x-llmnet-trace", "").lower() in _TRUE
        if not chat.stream:
            return await _plain(state, request, chat, request_id, trace, headers)
        stats.streamed += 1
        response = await _streamed(state, request, chat, request_id, trace, headers)
        handed_over = isinstance(response, EventStream)
        return response
    finally:
        if not handed_over:
            stats.in_flight -= 1


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, refused with 413 past `limit` bytes (by Content-Length, and as it arrives), and
    with 408 when it has not all arrived within `timeout` seconds."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise RequestError(400, f"invalid Content-Length {length!r}") from None
        if declared > limit:
            raise _too_large(declared, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(size, limit, at_least=True)
                chunks.append(chunk)
    except TimeoutError:
        message = f"the request body did not arrive within {timeout:g} s (--read-timeout)"
        raise RequestError(408, message, code="request_timeout") from None
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
    return Response(body, status_code=exc.status, headers=headers, media_type=JSON)


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


def _start(state: ServeState, chat: ChatInput, request_id: str, on_piece: Any = None) -> asyncio.Task[Any]:
    """Run the pipeline in a task; a streamed answer's pieces go to `on_piece`: text, or `StreamChunk`s
    when the request asks for tools or logprobs."""
    variables = {**chat.variables, **state.variables} if chat.variables else state.variables
    rich = chat.answer.offers_tools or chat.answer.logprobs
    run = state.pipeline.run(
        chat.messages,
        variables=variables,
        on_token=None if rich else on_piece,
        request_id=request_id,
        parameters=chat.parameters,
        source="serve",
        answer=chat.answer,
        on_chunk=on_piece if rich else None,
    )
    return asyncio.create_task(run)


class _DisconnectWatch:
    """Cancels `task` if the client disconnects before the response starts (uvicorn's `receive` reports
    `http.disconnect` once the body has been read and the connection drops)."""

    def __init__(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        self.disconnected = False
        self._watcher = asyncio.create_task(self._watch(receive, task))

    async def _watch(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnected = True
        task.cancel()

    def stop(self) -> None:
        self._watcher.cancel()


async def _plain(
    state: ServeState,
    request: Request,
    chat: ChatInput,
    request_id: str,
    trace: bool,
    headers: dict[str, str],
) -> Response:
    task = _start(state, chat, request_id)
    watch = _DisconnectWatch(request.receive, task)
    try:
        result = await task
    except asyncio.CancelledError:
        if watch.disconnected and task.cancelled():
            state.stats.cancelled += 1
            return Response(status_code=CLIENT_CLOSED, headers=headers)
        task.cancel()
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an HTTP error
        status, body = _failure(state, exc, request_id, trace)
        return Response(body, status_code=status, headers=headers, media_type=JSON)
    finally:
        watch.stop()
    state.stats.record(result.trace, failed=False)
    redact = state.pipeline.redactor
    text, calls, logprobs = whole_answer(result, redact)
    reason = result.finish_reason or "stop"
    trace_dict = result.trace.to_dict(redact) if trace else None
    answer = (request_id, int(time.time()), state.model_id, text, result.usage.to_dict(), trace_dict, reason)
    body = text_completion(*answer) if chat.legacy else completion(*answer, calls, logprobs)
    return Response(body, headers=headers, media_type=JSON)


async def _streamed(
    state: ServeState,
    request: Request,
    chat: ChatInput,
    request_id: str,
    trace: bool,
    headers: dict[str, str],
) -> Response:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = _start(state, chat, request_id, queue.put_nowait)
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    watch = _DisconnectWatch(request.receive, task)
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
        return Response(body, status_code=status, headers=headers, media_type=JSON)
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
