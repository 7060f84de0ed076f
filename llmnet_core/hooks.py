"""Runs a node's pre- and post-hooks: conditions, observe vs transform, on_failure, timeouts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from .composition.schema import HookConfig
from .conditions import parse_condition
from .errors import LLMNetError, PipelineError, StepTimeoutError
from .events import span
from .trace import HookOutcome, Hop
from .types import HookCall

log = logging.getLogger("llmnet.hooks")

T = TypeVar("T")


def decode_reply(text: str) -> Any:
    """What a peer's text reply means, the same for every transport: empty or only whitespace is None
    ("no change"); a whole JSON object, array or string is that value, and JSON `null` is None; anything
    else (plain text, a number, `true`, broken JSON) is the text exactly as sent.

    Numbers and booleans stay text because the data they become is their text anyway, spelled as sent.
    """
    stripped = text.strip()
    if not stripped or stripped == "null":
        return None
    if stripped[0] not in '{["':
        return text
    try:
        return json.loads(stripped, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return text


def _not_json(name: str) -> Any:
    """Refuses NaN and Infinity, which Python's json accepts but JSON has not."""
    raise ValueError(f"{name} is not JSON")


def apply_transform(result: Any, data: str) -> str:
    """Fold a transform hook's reply into the data: nothing keeps it, a string replaces it, an object
    merges into object data, anything else becomes JSON text."""
    if result is None or result == "":
        return data
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            current = json.loads(data)
        except (TypeError, ValueError):
            current = None
        if isinstance(current, dict):
            return json.dumps({**current, **result}, ensure_ascii=False)
    return json.dumps(result, ensure_ascii=False)


def _timed_out(exc: BaseException) -> bool:
    """True when a hook's call ran out of time: the runner's own bound, or the transport's timeout error."""
    return isinstance(exc, TimeoutError | StepTimeoutError)


class HookRunner:
    """Executes hooks for the engine; observe hooks run in the background and are tracked until drained."""

    def __init__(
        self,
        transport_for: Callable[[str], Any],
        function_type: Callable[[str], str],
        functions: Mapping[str, Callable[..., Any]],
        redact: Callable[[str], str],
    ) -> None:
        self._transport_for = transport_for
        self._function_type = function_type
        self._functions = functions
        self._redact = redact
        self.pending: set[asyncio.Task[None]] = set()

    async def run(
        self,
        hooks: list[HookConfig],
        *,
        phase: str,
        node: str,
        data: str,
        variables: Mapping[str, Any],
        hop: Hop,
    ) -> str:
        """Run `hooks` in order; returns the data after every transform."""
        for hook in hooks:
            transport_name = self._function_type(hook.function)
            outcome = HookOutcome(hook.function, transport_name, phase, hook.mode)
            hop.hooks.append(outcome)
            key = "OUTPUT" if phase == "post" else "INPUT"
            call_vars = {**variables, key: data}
            if hook.if_ and not parse_condition(hook.if_).evaluate(call_vars, self._functions):
                outcome.status = "skipped"
                continue
            transport = self._transport_for(hook.function)
            call = HookCall(
                function=hook.function,
                phase=phase,
                mode=hook.mode,
                node=node,
                data=data,
                variables={k: "" if v is None else str(v) for k, v in call_vars.items()},
                timeout=transport.spec.timeout,
            )
            if hook.mode == "observe":
                work = self._in_span(self._observe(transport, call, outcome), call, outcome)
                task = asyncio.create_task(work)
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
            else:
                data = await self._in_span(self._transform(hook, transport, call, outcome), call, outcome)
        return data

    async def _in_span(self, work: Awaitable[T], call: HookCall, outcome: HookOutcome) -> T:
        """Await one hook call in a "hook" span for observers; its status is set at the end."""
        with span(
            "hook",
            call.function,
            node=call.node,
            phase=call.phase,
            transport=outcome.transport,
            mode=call.mode,
        ) as observed:
            try:
                return await work
            finally:
                if observed.recording:
                    observed.attributes["status"] = outcome.status

    async def _transform(self, hook: HookConfig, transport: Any, call: HookCall, outcome: HookOutcome) -> str:
        """Await one transform hook and fold its reply into the data; a failure follows `on_failure`."""
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(transport.call(call), call.timeout)
        except Exception as exc:  # noqa: BLE001 - a hook's fault is handled by its policy
            outcome.ms = (time.perf_counter() - started) * 1000
            reason = self._reason(exc, call.timeout)
            timed_out = _timed_out(exc)
            outcome.status = "timeout" if timed_out else "failed"
            outcome.error = reason
            if hook.on_failure == "abort":
                # a timeout keeps its type (StepTimeoutError), so that a server answers it with 504
                kind = StepTimeoutError if timed_out else PipelineError
                raise kind(
                    f'node "{call.node}": {call.phase}-hook "{hook.function}" ({outcome.transport}) '
                    f"failed: {reason}",
                    hint="the hook has on_failure: abort; use continue to carry on without it",
                ) from None
            log.warning("hook %s on node %s failed: %s", hook.function, call.node, reason)
            return call.data
        outcome.ms = (time.perf_counter() - started) * 1000
        outcome.status = "ok"
        new = apply_transform(result, call.data)
        outcome.changed = new != call.data
        return new

    async def _observe(self, transport: Any, call: HookCall, outcome: HookOutcome) -> None:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(transport.call(call), call.timeout)
            outcome.status = "ok"
        except Exception as exc:  # noqa: BLE001 - observe hooks never break the pipeline
            outcome.status = "timeout" if _timed_out(exc) else "failed"
            outcome.error = self._reason(exc, call.timeout)
            log.warning("observe hook %s on node %s failed: %s", call.function, call.node, outcome.error)
        finally:
            outcome.ms = (time.perf_counter() - started) * 1000

    def _reason(self, exc: BaseException, timeout: float) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {timeout:g} s"
        text = exc.message if isinstance(exc, LLMNetError) else f"{type(exc).__name__}: {exc}"
        return self._redact(text)

    async def drain(self) -> None:
        """Wait for outstanding observe hooks (each bounded by its own timeout)."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel outstanding observe hooks and wait while each cleans up (its transport ends what it
        started); for a run that stops rather than finishes."""
        while self.pending:
            tasks = list(self.pending)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
