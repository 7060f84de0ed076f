"""One replica of a node's deployment: the backends of the models that node calls (its own, its fallback
models, its router's), made and prepared once when the replica starts (an embedded model loads once
per replica), answering the calls that the ingress forwards through deployment handles."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from llmnet_core import (
    Backend,
    BackendError,
    ChatRequest,
    ChatResponse,
    LLMNetError,
    Message,
    ModelSpec,
    Pipeline,
    Resources,
    StreamChunk,
    get_host,
    load_composition,
)


@dataclass
class Failure:
    """An error of a model call, carried back to the ingress as a value: it is raised there as it would
    be in-process, and the replica's log is not filled with a traceback per failed call."""

    error: LLMNetError


class Elsewhere(Backend):
    """A model of another node: never called in this replica (each node has its own deployment)."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise BackendError(f'model "{self.spec.name}" is not served by this deployment')


def failure(exc: Exception, backend: Backend | None) -> Failure:
    """An exception of a backend as a `Failure`; a backend's bug becomes a BackendError naming it, as the
    engine's guard does in-process."""
    if isinstance(exc, LLMNetError):
        return Failure(exc)
    kind = backend.spec.backend if backend is not None else "model"
    return Failure(BackendError(f"the {kind} backend failed: {type(exc).__name__}: {exc}"))


class NodeModels:
    """A node's deployment: `complete`, `stream`, `embed` and `score` of one of the node's models."""

    async def __init__(self, composition: str, overrides: Sequence[str], node: str) -> None:
        host = get_host()
        loaded = load_composition(composition, registries=host.registries, overrides=overrides)
        self.node = node
        self.backends: dict[str, Backend] = {}

        def make(at: str, spec: ModelSpec, cls: type[Backend], resources: Resources) -> Backend:
            if at != node:
                return Elsewhere(spec, resources)
            backend = self.backends[spec.name] = cls(spec, resources)
            return backend

        # the pipeline loads the secrets and prepares this node's models (an embedded model starts loading)
        self.pipeline = Pipeline(loaded, host=host, backends=make)
        await self.pipeline.start()

    def _backend(self, model: str) -> Backend:
        backend = self.backends.get(model)
        if backend is None:
            raise BackendError(f'model "{model}" is not one that node "{self.node}" calls')
        return backend

    async def complete(self, model: str, request: ChatRequest) -> ChatResponse | Failure:
        backend = None
        try:
            backend = self._backend(model)
            return await backend.complete(_capped(backend, request))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the ingress as a value
            return failure(exc, backend)

    async def stream(self, model: str, request: ChatRequest) -> AsyncIterator[StreamChunk | Failure]:
        backend = None
        try:
            backend = self._backend(model)
            pieces = aiter(backend.stream(_capped(backend, request)))
            try:
                async for chunk in pieces:
                    yield chunk
            finally:
                with contextlib.suppress(Exception):
                    await pieces.aclose()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            yield failure(exc, backend)

    async def embed(self, model: str, texts: Sequence[str], persist: bool) -> list[list[float]] | Failure:
        backend = None
        try:
            backend = self._backend(model)
            return await backend.embed(texts, persist=persist)
        except Exception as exc:  # noqa: BLE001
            return failure(exc, backend)

    async def score(
        self, model: str, messages: Sequence[Message], choices: Sequence[str]
    ) -> dict[str, float] | Failure:
        backend = None
        try:
            backend = self._backend(model)
            return await backend.score_choices(messages, choices)
        except Exception as exc:  # noqa: BLE001
            return failure(exc, backend)

    async def __del__(self) -> None:
        pipeline = getattr(self, "pipeline", None)
        if pipeline is not None:
            await pipeline.aclose(wait=False)


def _capped(backend: Backend, request: ChatRequest) -> ChatRequest:
    """The request as the engine would send it to this backend: the ingress cannot know whether it
    restricts an answer to `choices` (it may change its mind after a refusal), so the cap on the
    tokens of a choice is applied here, where the backend is."""
    params = request.parameters
    if request.choices and "max_tokens" not in params and not backend.constrains_choices():
        return replace(request, parameters={**params, "max_tokens": request.choice_max_tokens()})
    return request
