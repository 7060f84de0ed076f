"""`llmnet eval`: load the composition and the labelled requests, run them once per strategy compared,
and gather the figures into one report."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from .dataset import Item, check_labels, read_items
from .graph import Routes, with_strategy
from .metrics import summarise
from .progress import ProgressBar
from .runner import run_all


@dataclass(frozen=True)
class EvalRequest:
    """What `llmnet eval` was asked to do."""

    composition: str
    data: str
    strategies: tuple[str, ...] = ()  #: empty: each node's own strategy
    full: bool = False
    concurrency: int = 1
    variables: Mapping[str, str] = field(default_factory=dict)
    min_accuracy: float | None = None
    overrides: tuple[str, ...] = ()  #: `--set PATH=VALUE` changes to the composition


def load(request: EvalRequest) -> tuple[Any, list[Item], Routes]:
    """The pipeline (validated; CompositionError otherwise), the checked labelled requests, the graph."""
    from llmnet_core import Pipeline, get_host, load_composition

    host = get_host()
    path, overrides = request.composition, request.overrides
    composition = load_composition(path, registries=host.registries, overrides=overrides)
    pipeline = Pipeline(composition, host=host, variables=dict(request.variables))
    items = read_items(request.data)
    routes = Routes(pipeline.composition)
    check_labels(request.data, items, pipeline.composition.nodes, routes.reachable)
    return pipeline, items, routes


def check_strategies(strategies: Sequence[str], registries: Any, routes: Routes) -> None:
    """Every `--router` name is an installed strategy, and some node routes (usage errors otherwise)."""
    from llmnet_core import UsageError

    known = sorted(registries.routers)
    for name in strategies:
        if name not in registries.routers:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            guess = f' (did you mean "{close[0]}"?)' if close else ""
            raise UsageError(
                f'--router: no routing strategy "{name}"{guess}', hint=f"installed: {', '.join(known)}"
            )
    if strategies and not routes.routing_nodes:
        raise UsageError(
            "--router: no node of the composition chooses between several targets",
            hint="a strategy is only asked where a node has more than one target",
        )


def evaluate(request: EvalRequest) -> dict[str, Any]:
    """Run the evaluation and return the report (see metrics.summarise for each run's part)."""
    from llmnet_core import deploy_note

    pipeline, items, routes = load(request)
    check_strategies(request.strategies, pipeline.registries, routes)
    if (note := deploy_note(pipeline.composition, pipeline.registries)) is not None:
        click.echo(f"note: {note}", err=True)
    runs = asyncio.run(_all_runs(pipeline, items, routes, request))
    passed = None
    if request.min_accuracy is not None:
        passed = all(r["accuracy"] is not None and r["accuracy"] >= request.min_accuracy for r in runs)
    return {
        "composition": request.composition,
        "data": request.data,
        "requests": len(items),
        "mode": "full" if request.full else "route-only",
        "routing": {node: routes.strategies[node] for node in routes.routing_nodes},
        "runs": runs,
        "min_accuracy": request.min_accuracy,
        "passed": passed,
        "warnings": [str(p) for p in pipeline.composition.warnings],
    }


async def _all_runs(
    pipeline: Any, items: list[Item], routes: Routes, request: EvalRequest
) -> list[dict[str, Any]]:
    from llmnet_core import Pipeline

    if not request.strategies:
        return [await _one_run(pipeline, items, routes, request, None)]
    runs = []
    for strategy in request.strategies:
        variant = Pipeline(
            with_strategy(pipeline.composition, strategy),
            host=pipeline.host,
            variables=dict(request.variables),
        )
        runs.append(await _one_run(variant, items, routes, request, strategy))
    return runs


async def _one_run(
    pipeline: Any, items: list[Item], routes: Routes, request: EvalRequest, strategy: str | None
) -> dict[str, Any]:
    from llmnet_core import show_activity

    bar = ProgressBar(len(items), strategy or "eval")
    try:
        with show_activity(enabled=bar.enabled):
            await pipeline.start()  # models load here, with a spinner on a terminal
        async with pipeline:
            outcomes = await run_all(
                pipeline,
                items,
                full=request.full,
                concurrency=request.concurrency,
                on_done=lambda outcome: bar.advance(outcome.error is not None),
            )
    finally:
        bar.close()
    return summarise(outcomes, routes, strategy)
