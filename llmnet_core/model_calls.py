"""Calls from the engine to a node's model: one chat call (streamed or not); `ModelCalls`, which tries a
node's `fallback` models when its own fails and goes through its response cache; and `NodeModel`, the
model of one node as a router sees it (complete, score, embed). Each call is recorded on the node's hop."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .answering import StreamedAnswer
from .base import Backend
from .caching import Caches
from .composition import NodeConfig
from .errors import BackendError, LLMNetError, RoutingError
from .events import NO_SPAN, span, wants
from .response_cache import CacheSpec, cache_key, samples
from .run import ChunkCallback, TokenCallback
from .trace import Hop
from .types import AnswerOptions, ChatRequest, ChatResponse, Message, StreamChunk

T = TypeVar("T")
log = logging.getLogger("llmnet.engine")
#: the options of a call that asks for nothing beyond text (AnswerOptions is frozen: one serves all)
NO_ANSWER = AnswerOptions()


async def guarded(node: NodeConfig, backend: Backend, work: Awaitable[T]) -> T:
    """Await a backend call; its errors name the node, and a backend's bug becomes a clear error."""
    try:
        return await work
    except Exception as exc:  # noqa: BLE001 - see node_error
        raise node_error(node, backend, exc) from None


def node_error(node: NodeConfig, backend: Backend, exc: Exception) -> Exception:
    """What a backend call's failure becomes: a BackendError names the node (the same error, its class
    too: a BackendTimeoutError stays one); another LLMNetError stays as it is; a backend's bug becomes a
    clear BackendError."""
    if isinstance(exc, BackendError):
        exc.message = f'node "{node.name}": {exc.message}'
        exc.args = (exc.message,)
        return exc
    if isinstance(exc, LLMNetError):
        return exc
    return BackendError(
        f'node "{node.name}": the {backend.spec.backend} backend failed: {type(exc).__name__}: {exc}'
    )


async def call_model(
    node: NodeConfig,
    backend: Backend,
    messages: Sequence[Message],
    params: Mapping[str, Any],
    hop: Hop,
    request_id: str,
    on_token: TokenCallback | None = None,
    choices: Sequence[str] | None = None,
    answer: AnswerOptions | None = None,
    on_chunk: ChunkCallback | None = None,
) -> ChatResponse:
    """One chat call of `node`'s model, streamed to `on_token` (text) or `on_chunk` (every piece) when
    given; the hop records the model and the tokens. With `choices`, a backend that cannot restrict its
    answer to them gets a small `max_tokens` instead (unless `params` has one). `answer` (tools, response
    format, logprobs) is the caller's, for an answering node whose backend supports it."""
    request = build_request(node, backend, messages, params, request_id, choices, answer)
    return await send(node, backend, request, hop, on_token, on_chunk)


def build_request(
    node: NodeConfig,
    backend: Backend,
    messages: Sequence[Message],
    params: Mapping[str, Any],
    request_id: str,
    choices: Sequence[str] | None = None,
    answer: AnswerOptions | None = None,
    *,
    fallback: bool = False,
) -> ChatRequest:
    """The request for one call of `backend`'s model by `node`: the node's `model_override` names the wire
    model of its own model (not of a `fallback` one); `choices` cap `max_tokens` where the backend cannot
    restrict its answer to them."""
    override = None if fallback else node.extra_options.get("model_override")
    request = ChatRequest(
        messages=tuple(messages),
        model=override or backend.spec.wire_model or backend.spec.name,
        parameters=dict(params),
        node=node.name,
        request_id=request_id,
        choices=tuple(choices) if choices else None,
        answer=answer or NO_ANSWER,
    )
    if request.choices and "max_tokens" not in params and not backend.constrains_choices():
        request = replace(request, parameters={**params, "max_tokens": request.choice_max_tokens()})
    return request


async def send(
    node: NodeConfig,
    backend: Backend,
    request: ChatRequest,
    hop: Hop,
    on_token: TokenCallback | None = None,
    on_chunk: ChunkCallback | None = None,
    **attributes: Any,
) -> ChatResponse:
    """Send `request` to `backend` (streamed when a callback is given) in a "model_call" span with
    `attributes`; the hop records the model, the call's time and the tokens."""
    wire = request.model
    hop.model, hop.backend = wire, backend.spec.backend
    context = NO_SPAN
    if wants("model_call"):
        context = span(
            "model_call",
            node.name,
            node=node.name,
            model=wire,
            backend=backend.spec.backend,
            stream=on_token is not None or on_chunk is not None,
            parameters=request.parameters,
            **attributes,
        )
    with context as observed:
        started = time.perf_counter()
        try:
            if on_token is None and on_chunk is None:
                try:  # `guarded`, without a coroutine more on every call
                    response = await backend.complete(request)
                except Exception as exc:  # noqa: BLE001 - see node_error
                    raise node_error(node, backend, exc) from None
            else:
                response = await _collect_stream(node, backend, request, on_token, on_chunk)
        finally:
            hop.model_ms.append((time.perf_counter() - started) * 1000)
        if observed.recording:
            observed.attributes.update(
                usage=response.usage, response_model=response.model, finish_reason=response.finish_reason
            )
    hop.add_usage(response.usage)
    return response


async def _collect_stream(
    node: NodeConfig,
    backend: Backend,
    request: ChatRequest,
    on_token: TokenCallback | None,
    on_chunk: ChunkCallback | None = None,
) -> ChatResponse:
    """Read a streamed answer, handing each piece of text to `on_token` (every piece to `on_chunk`) as
    it comes.

    Only the backend's work is guarded: what `on_token` raises (its stdout was closed, its disk is
    full) is the caller's failure, not the backend's, and reaches the caller unchanged. The stream is
    closed however the reading ends, so that its connection is released at once.
    """
    stream = await guarded(node, backend, _open_stream(backend, request))
    answer = StreamedAnswer()
    try:
        while (chunk := await guarded(node, backend, anext(stream, None))) is not None:
            answer.add(chunk)
            if chunk.text and on_token is not None:
                on_token(chunk.text)
            if on_chunk is not None and (chunk.text or chunk.tool_calls or chunk.logprobs):
                on_chunk(chunk)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    return answer.response(request.model)


async def _open_stream(backend: Backend, request: ChatRequest) -> AsyncIterator[StreamChunk]:
    return aiter(backend.stream(request))


def falls_back(exc: BackendError) -> bool:
    """Whether another model may answer where this one failed: no connection, no answer in time, an
    unreadable answer, a server error (5xx) or a rate limit (429) that outlasted the backend's retries.
    Any other 4xx (a bad parameter, API key or model name) is the request's fault or the model entry's:
    another model would refuse the request too, or hide a mistake that needs fixing."""
    return exc.status is None or exc.status >= 500 or exc.status in (408, 429)


@dataclass
class _Relay:
    """The caller's streaming callbacks, noting whether any piece of the answer went out: after that,
    no other model may take over the answer."""

    token: TokenCallback | None
    chunk: ChunkCallback | None
    started: bool = False

    def on_token(self, text: str) -> Any:
        self.started = True
        return self.token(text) if self.token is not None else None

    def on_chunk(self, chunk: StreamChunk) -> Any:
        self.started = True
        return self.chunk(chunk) if self.chunk is not None else None

    def callbacks(self) -> tuple[TokenCallback | None, ChunkCallback | None]:
        return (self.on_token if self.token else None), (self.on_chunk if self.chunk else None)

    def replay(self, text: str) -> None:
        """Hand a kept answer to a streaming caller as one piece."""
        if text and self.token is not None:
            self.on_token(text)
        if text and self.chunk is not None:
            self.on_chunk(StreamChunk(text=text))


@dataclass
class ModelCalls:
    """How a pipeline calls a node's model: the node's own, then each of its `fallback` models in turn
    while the one before failed as `falls_back` says, every call through the node's response cache when
    it has one. A streamed answer falls back only before its first piece went out; a failure after it
    is an error, never an answer spliced from two models."""

    backend_for: Callable[[NodeConfig, str | None], Backend]
    caches: Caches | None = None
    #: masks the composition's secrets in what is logged
    redact: Callable[[str], str] = str
    #: seconds a model that failed is passed over for the node's fallback models (`settings.cooldown`)
    cooldown: float = 0.0
    #: model → when it last failed (`time.monotonic()`), until it answers again
    _failed: dict[str, float] = field(default_factory=dict)

    async def call(
        self,
        node: NodeConfig,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        hop: Hop,
        request_id: str,
        on_token: TokenCallback | None = None,
        choices: Sequence[str] | None = None,
        answer: AnswerOptions | None = None,
        on_chunk: ChunkCallback | None = None,
    ) -> ChatResponse:
        """One answer of `node`'s model or of a fallback model, as `call_model` gives it; the hop records
        the model that answered, the ones that failed before it, and the cache's part."""
        names = self._candidates(node, answer)
        if len(names) > 1 and self._failed:
            names = self._passed_over(names, hop)
        spec = self.caches.spec(node) if self.caches is not None else None
        relay = _Relay(on_token, on_chunk)
        for index, name in enumerate(names):
            backend = self.backend_for(node, name)
            fallback = name != node.model
            request = build_request(
                node, backend, messages, params, request_id, choices, answer, fallback=fallback
            )
            try:
                if spec is None:  # no cache: the model call itself (one coroutine less on every call)
                    on_token, on_chunk = relay.callbacks()
                    response = await send(node, backend, request, hop, on_token, on_chunk, fallback=fallback)
                else:
                    response = await self._cached(node, backend, request, hop, relay, spec, fallback)
            except BackendError as exc:
                later = names[index + 1 :]
                if falls_back(exc) and len(names) > 1 and self.cooldown > 0:
                    self._failed[name] = time.monotonic()
                if relay.started or not later or not falls_back(exc):
                    raise _final(node, exc, names[: index + 1], later, relay.started) from None
                reason = exc.message.removeprefix(f'node "{node.name}": ')
                hop.fallbacks.append({"model": name, "error": reason})
                shown = self.redact(reason)
                log.warning('node "%s": model "%s" failed, trying "%s": %s', node.name, name, later[0], shown)
                continue
            if self._failed:
                self._failed.pop(name, None)
            hop.answered_by = name
            return response
        raise AssertionError("a node's model call has at least one model")  # pragma: no cover

    def _passed_over(self, names: list[str], hop: Hop) -> list[str]:
        """`names` with the models that failed within the cooldown moved to the end (tried only when the
        others fail too), each noted in the hop as passed over; unchanged when every one failed."""
        now = time.monotonic()
        ago = {name: now - self._failed[name] for name in names if name in self._failed}
        down = [name for name, seconds in ago.items() if seconds < self.cooldown]
        if not down or len(down) == len(names):
            return names
        for name in down:
            seconds, cooldown = round(ago[name], 1), self.cooldown
            reason = f"passed over: it failed {seconds:g} s ago (settings.cooldown {cooldown:g} s)"
            hop.fallbacks.append({"model": name, "error": reason})
        return [name for name in names if name not in down] + down

    def _candidates(self, node: NodeConfig, answer: AnswerOptions | None) -> list[str]:
        """The node's model, then its fallback models that can answer as asked (tools, formats...)."""
        assert node.model is not None
        names = [node.model]
        if not node.fallback:
            return names
        needed = answer.features() if answer is not None else ()
        for name in dict.fromkeys(node.fallback):
            if name not in names and all(self.backend_for(node, name).supports(f) for f in needed):
                names.append(name)
        return names

    async def _cached(
        self,
        node: NodeConfig,
        backend: Backend,
        request: ChatRequest,
        hop: Hop,
        relay: _Relay,
        spec: CacheSpec,
        fallback: bool,
    ) -> ChatResponse:
        """One model's answer with the node's response cache: the one it keeps, else the model's (then
        kept)."""
        caches = self.caches
        key = _key(request, backend, hop, spec)
        if key is not None and caches is not None:
            kept, hop.cache = await caches.get(spec, key)
            if kept is not None:
                hop.model, hop.backend = request.model, backend.spec.backend
                relay.replay(kept.text)
                return replace(kept, model=kept.model or request.model)
        on_token, on_chunk = relay.callbacks()
        response = await send(
            node, backend, request, hop, on_token, on_chunk, fallback=fallback, cache=hop.cache
        )
        keep = not response.tool_calls and response.logprobs is None
        if key is not None and caches is not None and keep:
            await caches.put(spec, key, response)
        return response


def _key(request: ChatRequest, backend: Backend, hop: Hop, spec: CacheSpec | None) -> str | None:
    """The cache key of a call, None when it is not looked up; sets the hop's `cache` to "miss" (looked
    up), "bypass" (a sampling temperature, or a request with no JSON form) or None (no cache)."""
    hop.cache = None
    if spec is None:
        return None
    if samples(request, backend.spec) and not spec.temperature:
        hop.cache = "bypass"
        return None
    key = cache_key(request, backend.spec)
    hop.cache = "bypass" if key is None else "miss"
    return key


def _final(
    node: NodeConfig, exc: BackendError, tried: list[str], later: list[str], started: bool
) -> BackendError:
    """The error that ends a node's model call: the last model's, naming every model tried, and saying
    why the fallback models left were not tried."""
    prefix = f'node "{node.name}": '
    if len(tried) > 1:
        reason = exc.message.removeprefix(prefix)
        exc.message = f"{prefix}models tried in turn: {', '.join(tried)}; the last failed: {reason}"
        exc.args = (exc.message,)
    if later:
        if started:
            why = "the answer had begun, and one answer never comes from two models"
        else:
            why = f"after HTTP {exc.status}, the request or the model's entry needs fixing"
        note = f"Fallback models not tried ({', '.join(later)}): {why}."
        exc.hint = f"{exc.hint} {note}" if exc.hint else note
    return exc


@dataclass
class NodeModel:
    """The model of the node that routes, offered to its router: `complete` and `score` use the node's
    own model (None when it has none), `embed` that model or one the router names."""

    node: NodeConfig
    hop: Hop
    request_id: str
    backend_for: Callable[[NodeConfig, str | None], Backend]
    #: the pipeline's calls (fallback models, response cache); None: the node's own model, uncached
    calls: ModelCalls | None = None

    async def complete(
        self, messages: Sequence[Message], *, choices: Sequence[str] | None = None, **params: Any
    ) -> ChatResponse:
        """One call of the node's model; with `choices`, its answer is meant to be exactly one of them."""
        if self.calls is not None:
            return await self.calls.call(
                self.node, messages, params, self.hop, self.request_id, choices=choices
            )
        backend = self.backend_for(self.node, None)
        return await call_model(
            self.node, backend, messages, params, self.hop, self.request_id, choices=choices
        )

    async def score(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        backend = self.backend_for(self.node, None)
        self.hop.model = backend.spec.wire_model or backend.spec.name
        self.hop.backend = backend.spec.backend
        return await guarded(self.node, backend, backend.score_choices(list(messages), list(choices)))

    async def embed(
        self, texts: Sequence[str], model: str | None = None, *, persist: bool = False
    ) -> list[list[float]]:
        if model is None and self.node.model is None:
            raise RoutingError(
                f'node "{self.node.name}" has no model to compute embeddings with',
                hint='add "model" to the node, or name one in router-options.embedding-model',
            )
        embedder = self.backend_for(self.node, model)
        return await guarded(self.node, embedder, embedder.embed(list(texts), persist=persist))
