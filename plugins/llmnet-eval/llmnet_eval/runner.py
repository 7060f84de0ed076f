"""Run labelled requests through a pipeline and keep, per request, the route and each decision taken, or
the error that stopped it; secrets are masked in everything kept."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .dataset import Item


@dataclass(frozen=True)
class Decision:
    """One step of a route: the node that decided, the node it chose, how, and the trace's details
    (`strategy`, `candidates`, `reason`, `answer`, `scores`, `ms`, `conditions`; empty for an only target)."""

    node: str
    chosen: str
    chosen_by: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def strategy(self) -> str | None:
        """The routing strategy that chose, None when no strategy was asked."""
        return self.detail.get("strategy")

    @property
    def ms(self) -> float:
        return float(self.detail.get("ms") or 0.0)


@dataclass(frozen=True)
class Outcome:
    """What happened to one labelled request."""

    item: Item
    text: str  #: the routed text, secrets masked
    route: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    error: str | None = None
    error_type: str | None = None
    hint: str | None = None

    @property
    def routing_ms(self) -> float:
        """Time spent in routing strategies for this request."""
        return sum(d.ms for d in self.decisions if d.strategy)


def decisions_of(trace: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Decision, ...]]:
    """The route and its steps, from a trace as `Trace.to_dict` gives it."""
    hops = trace.get("hops") or []
    route = tuple(h["node"] for h in hops)
    steps = tuple(
        Decision(before["node"], hop["node"], hop["chosen_by"], dict(hop.get("decision") or {}))
        for before, hop in itertools.pairwise(hops)
    )
    return route, steps


async def run_one(pipeline: Any, item: Item, *, full: bool) -> Outcome:
    """One request through the pipeline; a failure is kept as the outcome's error, not raised."""
    from llmnet_core import LLMNetError

    redact = pipeline.redactor
    try:
        result = await pipeline.run(item.prompt, variables=item.variables, route_only=not full)
    except LLMNetError as exc:
        trace = exc.trace.to_dict(redact) if exc.trace is not None else {}
        route, steps = decisions_of(trace)
        hint = redact(exc.hint) if exc.hint else None
        return Outcome(item, redact(item.text), route, steps, redact(exc.message), type(exc).__name__, hint)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug fails this request, not the whole run
        message = redact(f"{type(exc).__name__}: {exc}")
        return Outcome(item, redact(item.text), error=message, error_type="InternalError")
    route, steps = decisions_of(result.trace.to_dict(redact))
    return Outcome(item, redact(item.text), route, steps)


async def run_all(
    pipeline: Any,
    items: Sequence[Item],
    *,
    full: bool,
    concurrency: int = 1,
    on_done: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Every request through an open pipeline, at most `concurrency` at once; outcomes in file order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> Outcome:
        async with gate:
            outcome = await run_one(pipeline, item, full=full)
        on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(item) for item in items)))
