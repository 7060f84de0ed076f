"""The ASGI application: Starlette routes, the lifespan that starts and closes the pipeline, auth, and
OpenAI-style JSON errors for everything that goes wrong (404, 405, 401, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmnet_core import LLMNetError, Pipeline, SecretFilter

from .chat import chat_completions, complete, completions, error_response
from .collector import settle_collector
from .completions import parse_completion_request
from .metrics import start_metrics
from .settings import ServeSettings, from_environ
from .state import STATE, ServeState, serve_state
from .wire import ChatInput, RequestError, error_body, parse_chat_request

JSON = "application/json"
#: the completion endpoints (POST), which `ServeApp` calls without Starlette's router (the hot path), and
#: how each reads its request
COMPLETIONS: dict[str, tuple[Callable[[Request], Awaitable[Response]], Callable[..., ChatInput]]] = {
    "/v1/chat/completions": (chat_completions, parse_chat_request),
    "/chat/completions": (chat_completions, parse_chat_request),
    "/v1/completions": (completions, parse_completion_request),
    "/completions": (completions, parse_completion_request),
}


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: the Prometheus exposition (behind the API key, like /status)."""
    state = serve_state(request)
    try:
        state.check_auth(request)
    except RequestError as exc:
        return error_response(exc)
    if state.metrics is None:
        return error_response(RequestError(404, "metrics are off (the server was started with --no-metrics)"))
    body, content_type = state.metrics.exposition(request.headers.get("accept"))
    return Response(body, headers={"content-type": content_type})


def json_response(payload: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response whose body is already JSON bytes (encoded with orjson)."""
    return Response(payload, status_code=status, headers=headers, media_type=JSON)


async def health(request: Request) -> Response:
    """`GET /health`: 200 while the process serves (no auth, for load balancers)."""
    return json_response(b'{"status":"ok"}')


async def models(request: Request) -> Response:
    """`GET /v1/models`: the pipeline as the one model this server offers."""
    import orjson

    state = serve_state(request)
    try:
        state.check_auth(request)
    except RequestError as exc:
        return error_response(exc)
    item = {
        "id": state.model_id,
        "object": "model",
        "created": state.stats.started_epoch,
        "owned_by": "llmnet",
    }
    wanted = request.path_params.get("model")
    if wanted is not None:
        if wanted != state.model_id:
            message = f"model {wanted!r} does not exist; this server offers {state.model_id!r}"
            return error_response(RequestError(404, message, param="model", code="model_not_found"))
        return json_response(orjson.dumps(item))
    return json_response(orjson.dumps({"object": "list", "data": [item]}))


async def status(request: Request) -> Response:
    """`GET /status`: requests in flight, totals, hops and errors per node, uptime (of this process)."""
    import orjson

    state = serve_state(request)
    try:
        state.check_auth(request)
    except RequestError as exc:
        return error_response(exc)
    body = state.stats.to_dict(state.model_id)
    for key, section in state.status_sections.items():
        body[key] = await section()
    return json_response(orjson.dumps(body))


def routes(metrics: bool) -> list[Route]:
    """The server's routes. Those a 404 lists have `include_in_schema`: not the completion paths without
    `/v1` (aliases for clients whose base URL lacks it), nor /metrics when metrics are off."""
    return [
        *(
            Route(path, endpoint, methods=["POST"], include_in_schema=path.startswith("/v1/"))
            for path, (endpoint, _) in COMPLETIONS.items()
        ),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{model:path}", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=metrics),
    ]


def endpoints(table: list[Route]) -> str:
    """What the routes offer, for a 404: `POST /v1/chat/completions, ..., GET /v1/models/{model}`."""
    shown = (route for route in table if route.include_in_schema)
    return ", ".join(f"{m} {r.path_format}" for r in shown for m in sorted((r.methods or set()) - {"HEAD"}))


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and other Starlette HTTP errors as OpenAI-style JSON."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 404:
        offered = request.app.state.endpoints
        message = f"no route {request.method} {request.url.path}; this server offers {offered}"
    elif status == 405:
        allowed = sorted(m.strip() for m in headers.get("Allow", "").split(",") if m.strip())
        message = (
            f"method {request.method} is not allowed on {request.url.path}; it takes {', '.join(allowed)}"
        )
    else:
        message = str(getattr(exc, "detail", "")) or "error"
    return json_response(error_body(status, message), status, headers or None)


class ServeApp:
    """The ASGI app: a completion request goes straight to its endpoint (`_completion`), any other HTTP
    request through Starlette. uvicorn cancels the requests still running when a stop outlasts
    --graceful-timeout; their clients then get a 503 error (JSON, or an SSE error event that ends a
    stream already under way) instead of a cut connection and a traceback in the log. For lifespan it
    reports a pipeline that cannot start as one line (`error: ...`) instead of a traceback, so the
    server exits with a clear message."""

    def __init__(self, state: ServeState) -> None:
        self.state = state

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            try:
                await state.pipeline.start()
            except LLMNetError as exc:
                state.startup_error = exc
                raise
            stop_metrics = start_metrics(state)
            restore_collector = settle_collector()
            if state.on_ready is not None:
                state.on_ready()
            try:
                yield
            finally:
                restore_collector()
                stop_metrics()
                await state.pipeline.aclose()

        table = routes(state.settings.metrics)
        self.starlette = Starlette(
            routes=table, exception_handlers={HTTPException: _http_error}, lifespan=lifespan
        )
        self.starlette.state.endpoints = endpoints(table)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # a completion straight to its endpoint, anything else through Starlette
            scope[STATE] = self.state
            entry = COMPLETIONS.get(scope["path"]) if scope["method"] == "POST" else None
            if entry is not None and not scope.get("root_path"):
                await self._completion(entry[1], scope, receive, send)
            else:
                await self._respond(self.starlette, scope, receive, send)
            return
        if scope["type"] != "lifespan":
            await self.starlette(scope, receive, send)
            return

        async def send_lifespan(message: Message) -> None:
            error = self.state.startup_error
            if message["type"] == "lifespan.startup.failed" and error is not None:
                text = error.message + (f" ({error.hint})" if error.hint else "")
                message = {**message, "message": "error: " + " ".join(text.split())}
            await send(message)

        try:
            await self.starlette(scope, receive, send_lifespan)
        except LLMNetError:
            if self.state.startup_error is None:
                raise

    async def _completion(
        self, parse: Callable[..., ChatInput], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """A completion request without Starlette's router and middleware (~5 % of a request's CPU time),
        which add nothing here: the endpoint answers every failure itself (an unexpected exception reaches
        uvicorn, which answers 500 as Starlette would). A whole answer is sent as it is; only a stream
        needs watching while it is written."""
        scope["app"] = self.starlette
        try:
            response = await complete(scope, receive, parse)
        except asyncio.CancelledError:
            watch = ResponseWatch(send)
            await self._stopped(watch)
            self._count(scope, watch.status)
            return
        if isinstance(response, StreamingResponse):
            await self._respond(response, scope, receive, send)
            return
        start = {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
        try:
            await send(start)
            await send({"type": "http.response.body", "body": response.body})
        except asyncio.CancelledError:  # stopped while the answer was being written: it cannot change now
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self._count(scope, response.status_code)

    async def _respond(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run `app` (Starlette, or a streamed response) with its response watched."""
        watch = ResponseWatch(send)
        try:
            await app(scope, receive, watch.send)
        except asyncio.CancelledError:
            await self._stopped(watch)
        finally:
            self._count(scope, watch.status)

    async def _stopped(self, watch: ResponseWatch) -> None:
        """The server stopped this request: end its response with a 503 error, as far as it can."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        seconds = self.state.settings.graceful_timeout
        message = f"the server stopped before this request finished (--graceful-timeout {seconds:g} s)"
        # the server is going away: a client that does not read is not waited for
        with contextlib.suppress(asyncio.CancelledError):
            await watch.end_with_error(503, message, "server_stopping")

    def _count(self, scope: Scope, status: int) -> None:
        if self.state.metrics is not None:
            self.state.metrics.responded(scope["path"], status)


class ResponseWatch:
    """An ASGI `send` that remembers how far the response got, so that it can still be ended with an
    error: an HTTP error before it started, an error event in a server-sent event stream."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.status = 0
        self.event_stream = False
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            for name, value in reversed(message.get("headers", ())):  # responses put their type last
                if name.lower() == b"content-type":
                    self.event_stream = value.startswith(b"text/event-stream")
                    break
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)

    async def end_with_error(self, status: int, message: str, code: str) -> None:
        """Send an OpenAI-style error as the rest of the response; nothing when it cannot carry one
        (complete, or a plain body half sent)."""
        body = error_body(status, message, code=code)
        if not self.started:
            headers = [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
        elif self.event_stream and not self.complete:
            await self.send({"type": "http.response.body", "body": b"data: " + body + b"\n\n"})


def create_app(settings: ServeSettings, pipeline: Pipeline | None = None) -> ServeApp:
    """Build the app for `settings` (loading and validating the composition unless `pipeline` is given)."""
    if pipeline is None:
        pipeline = load_pipeline(settings)
    return ServeApp(ServeState(settings, pipeline))


def load_pipeline(settings: ServeSettings) -> Pipeline:
    """The pipeline of the settings' composition with their `--set` overrides applied (the same in the
    `llmnet serve` process and in each worker, which gets the settings through the environment)."""
    from llmnet_core import get_host, load_composition

    host = get_host()
    overrides = settings.overrides
    composition = load_composition(settings.composition, registries=host.registries, overrides=overrides)
    return Pipeline(composition, host=host)


def app_from_env() -> ServeApp:
    """App factory for uvicorn workers: the settings come from the environment `llmnet serve` set."""
    settings = from_environ()
    configure_logging(settings.log_level)
    return create_app(settings)


def configure_logging(level: str) -> None:
    """Send llmnet's own log lines to stderr at `level` (uvicorn configures its loggers itself)."""
    logger = logging.getLogger("llmnet")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:    %(name)s: %(message)s"))
        handler.addFilter(SecretFilter())
        logger.addHandler(handler)
    logger.setLevel(level.upper())
