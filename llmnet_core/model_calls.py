"""Calls from the engine to a node's model: one chat call (streamed or not), and `NodeModel`, the model
of one node as a router sees it (complete, score, embed), each call recorded on the node's hop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from .base import Backend
from .composition import NodeConfig
from .errors import BackendError, LLMNetError, RoutingError
from .run import TokenCallback
from .trace import Hop
from .types import ChatRequest, ChatResponse, Message, StreamChunk, Usage

T = TypeVar("T")


async def guarded(node: NodeConfig, backend: Backend, work: Awaitable[T]) -> T:
    """Await a backend call; its errors name the node, and a backend's bug becomes a clear error."""
    try:
        return await work
    except BackendError as exc:
        # the same error (its class too: a BackendTimeoutError stays one), now naming the node
        exc.message = f'node "{node.name}": {exc.message}'
        exc.args = (exc.message,)
        raise exc from None
    except LLMNetError:
        raise
    except Exception as exc:  # noqa: BLE001 - a backend's bug becomes a clear error
        raise BackendError(
            f'node "{node.name}": the {backend.spec.backend} backend failed: {type(exc).__name__}: {exc}'
        ) from None


async def call_model(
    node: NodeConfig,
    backend: Backend,
    messages: Sequence[Message],
    params: Mapping[str, Any],
    hop: Hop,
    request_id: str,
    on_token: TokenCallback | None = None,
    choices: Sequence[str] | None = None,
) -> ChatResponse:
    """One chat call of `node`'s model, streamed to `on_token` when given; the hop records the model
    and the tokens. With `choices`, a backend that cannot restrict its answer to them gets a small
    `max_tokens` instead (unless `params` has one)."""
    override = node.extra_options.get("model_override")
    wire = override or backend.spec.wire_model or backend.spec.name
    request = ChatRequest(
        messages=tuple(messages),
        model=wire,
        parameters=dict(params),
        node=node.name,
        request_id=request_id,
        choices=tuple(choices) if choices else None,
    )
    if request.choices and "max_tokens" not in params and not backend.constrains_choices():
        request = replace(request, parameters={**params, "max_tokens": request.choice_max_tokens()})
    hop.model, hop.backend = wire, backend.spec.backend
    if on_token is None:
        response = await guarded(node, backend, backend.complete(request))
    else:
        response = await _collect_stream(node, backend, request, on_token)
    hop.add_usage(response.usage)
    return response


async def _collect_stream(
    node: NodeConfig, backend: Backend, request: ChatRequest, on_token: TokenCallback
) -> ChatResponse:
    """Read a streamed answer, handing each piece to `on_token` as it comes.

    Only the backend's work is guarded: what `on_token` raises (its stdout was closed, its disk is
    full) is the caller's failure, not the backend's, and reaches the caller unchanged. The stream is
    closed however the reading ends, so that its connection is released at once.
    """
    stream = await guarded(node, backend, _open_stream(backend, request))
    parts: list[str] = []
    usage, finish = Usage(), None
    try:
        while (chunk := await guarded(node, backend, anext(stream, None))) is not None:
            if chunk.text:
                parts.append(chunk.text)
                on_token(chunk.text)
            if chunk.usage is not None:
                usage = chunk.usage
            finish = chunk.finish_reason or finish
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    return ChatResponse(text="".join(parts), usage=usage, model=request.model, finish_reason=finish)


async def _open_stream(backend: Backend, request: ChatRequest) -> AsyncIterator[StreamChunk]:
    return aiter(backend.stream(request))


@dataclass
class NodeModel:
    """The model of the node that routes, offered to its router: `complete` and `score` use the node's
    own model (None when it has none), `embed` that model or one the router names."""

    node: NodeConfig
    hop: Hop
    request_id: str
    backend_for: Callable[[NodeConfig, str | None], Backend]

    async def complete(
        self, messages: Sequence[Message], *, choices: Sequence[str] | None = None, **params: Any
    ) -> ChatResponse:
        """One call of the node's model; with `choices`, its answer is meant to be exactly one of them."""
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
