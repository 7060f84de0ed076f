"""The backend the engine in the ingress uses for a node's model: each call goes to the node's deployment
through its Ray deployment handle. A replica that dies is replaced by Ray; a call it had in flight is
sent again to another replica (a stream, only while nothing of it has gone out), and a call that still
cannot be answered is a clear BackendError, so that fallback models, retries and errors work as
in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from llmnet_core import (
    Backend,
    BackendError,
    ChatRequest,
    ChatResponse,
    LLMNetError,
    Message,
    ModelSpec,
    Resources,
    StreamChunk,
)

from .replica import Failure

#: tries of a call whose replica died or could not be reached (Ray replaces it meanwhile)
ATTEMPTS = 4
#: seconds before the second try, doubled for each next one
BACKOFF = 0.25


class RayBackend(Backend):
    """A node's model, called in the node's Ray Serve deployment. `local` is the model's own backend,
    never called here: it answers what the engine asks before a call (`supports`, `location`)."""

    def __init__(self, spec: ModelSpec, resources: Resources, local: Backend, handle: Any, node: str) -> None:
        super().__init__(spec, resources)
        self.local = local
        self.handle = handle
        self.node = node

    @property
    def location(self) -> str:
        return self.local.location

    def supports(self, feature: str) -> bool:
        return self.local.supports(feature)

    def constrains_choices(self) -> bool:
        # the replica caps the tokens of a choice where its backend does not constrain them (replica.py)
        return True

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self._call("complete", request)

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        return await self._call("embed", list(texts), persist)

    async def score_choices(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        return await self._call("score", list(messages), list(choices))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        for attempt in range(ATTEMPTS):
            started = False
            pieces = self.handle.options(stream=True).stream.remote(self.spec.name, request)
            try:
                async for item in pieces:
                    if isinstance(item, Failure):
                        raise item.error
                    started = True
                    yield item
                return
            except Exception as exc:  # noqa: BLE001 - sorted by `_retry_or_raise`
                await self._retry_or_raise(exc, attempt, started)
            finally:
                with contextlib.suppress(Exception):
                    pieces.cancel()

    async def _call(self, method: str, *args: Any) -> Any:
        for attempt in range(ATTEMPTS):
            try:
                result = await getattr(self.handle, method).remote(self.spec.name, *args)
            except Exception as exc:  # noqa: BLE001 - sorted by `_retry_or_raise`
                await self._retry_or_raise(exc, attempt)
                continue
            if isinstance(result, Failure):
                raise result.error
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _retry_or_raise(self, exc: Exception, attempt: int, started: bool = False) -> None:
        """Wait before the next try when the call may be sent again; else raise what the engine expects."""
        if isinstance(exc, LLMNetError):
            raise exc
        lost = _replica_lost(exc)
        if lost and not started and attempt + 1 < ATTEMPTS:
            await asyncio.sleep(BACKOFF * 2**attempt)
            return
        raise self._error(exc, lost, started) from None

    def _error(self, exc: Exception, lost: bool, started: bool) -> BackendError:
        where = f'its Ray Serve deployment "{_deployment_name(self.handle)}"'
        if lost and started:
            message = f"the replica of {where} that was answering stopped before the answer was whole"
            hint = "Ray replaces the replica; send the request again"
        elif lost:
            message = f"no replica of {where} could answer after {ATTEMPTS} tries ({_first_line(exc)})"
            hint = "check the deployment with `ray status` and the replicas' logs (`ray logs`)"
        else:
            message = f"the call to {where} failed: {_first_line(exc)}"
            hint = "see the replicas' logs (`ray logs`)"
        return BackendError(message, hint=hint, status=503 if _overloaded(exc) else None)

    async def aclose(self) -> None:
        await self.local.aclose()


def _replica_lost(exc: Exception) -> bool:
    """Whether the replica that had the call went away (died, or cannot be reached): another may answer."""
    from ray import exceptions as ray_errors
    from ray.serve import exceptions as serve_errors

    lost = (ray_errors.RayActorError, serve_errors.ReplicaUnavailableError)
    return isinstance(exc, lost) and not isinstance(exc, ray_errors.RayTaskError)


def _overloaded(exc: Exception) -> bool:
    from ray.serve.exceptions import BackPressureError

    return isinstance(exc, BackPressureError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _deployment_name(handle: Any) -> str:
    return str(getattr(handle, "deployment_name", "") or "?")


def forwarder(handles: dict[str, Any]) -> Callable[[str, ModelSpec, type[Backend], Resources], Backend]:
    """The engine's backend factory in the ingress: each node's models through the node's handle."""

    def make(node: str, spec: ModelSpec, cls: type[Backend], resources: Resources) -> Backend:
        local = cls(spec, resources)
        handle = handles.get(node)
        if handle is None:  # a node the ingress has no deployment for calls nothing: keep it local
            return local
        return RayBackend(spec, resources, local, handle, node)

    return make
