"""`llmnet tune`: learn each semantic routing node's examples (and threshold) from labelled requests,
report cross-validated accuracy before and after, show the change as a diff, and write it when asked."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .dataset import Item, check_labels, read_items
from .edits import Change, apply_to_data, apply_to_text, as_plain_json
from .graph import Routes
from .jsonc_edit import EditError
from .learn import Embeddings, NodeTuner, Sample, Score, Setting
from .progress import status
from .report import percent
from .writing import create_file, read_text, replace_file, unified_diff

STRATEGY = "semantic"
_MISSING = object()


@dataclass(frozen=True)
class TuneRequest:
    """What `llmnet tune` was asked to do."""

    composition: str
    data: str
    k: int = 8
    fallback: str | None = None
    folds: int = 5
    seed: int = 0
    write: bool = False
    output: str | None = None
    overrides: tuple[str, ...] = ()  #: `--set PATH=VALUE` changes, for this run only (never written)


@dataclass
class NodeResult:
    """What was learned for one routing node."""

    node: str
    samples: int
    handlers: list[str]
    before: Score
    after: Score
    examples: dict[str, list[str]]
    options: dict[str, Any]
    changed_options: dict[str, Any]
    fallback: str | None
    notes: list[str] = field(default_factory=list)


def tune(request: TuneRequest) -> None:
    """Run `llmnet tune` (raises UsageError / CompositionError for what cannot work)."""
    from llmnet_core import Pipeline, deploy_note, get_host, load_composition

    host = get_host()
    path, overrides = request.composition, request.overrides
    composition = load_composition(path, registries=host.registries, overrides=overrides)
    pipeline = Pipeline(composition, host=host)
    for warning in pipeline.composition.warnings:
        click.echo(f"{request.composition}: warning {warning}", err=True)
    if (note := deploy_note(composition, host.registries)) is not None:
        click.echo(f"note: {note}", err=True)
    items = read_items(request.data)
    routes = Routes(pipeline.composition)
    check_labels(request.data, items, pipeline.composition.nodes, routes.reachable)
    nodes = semantic_nodes(request, routes)
    original = read_text(request.composition)
    results = asyncio.run(_learn_all(pipeline, items, routes, nodes, request))
    redact = pipeline.redactor
    click.echo(redact(render(request, results)))
    changes = planned_changes(pipeline.composition.raw, results)
    new_text = edited_text(request, original, pipeline.composition.raw, changes) if changes else original
    diff = unified_diff(original, new_text, request.composition, request.output)
    if not diff:
        click.echo("nothing to change: the composition already has what was learned", err=True)
        return
    click.echo("")
    click.echo(redact(diff), nl=False)
    _save(request, pipeline, original, new_text)


def semantic_nodes(request: TuneRequest, routes: Routes) -> list[str]:
    """The nodes to tune; a usage error when there is none, or the fallback is nobody's target."""
    from llmnet_core import UsageError

    nodes = [n for n in routes.routing_nodes if routes.strategies[n] == STRATEGY]
    if not nodes:
        used = ", ".join(f"{n} ({routes.strategies[n]})" for n in routes.routing_nodes) or "none"
        raise UsageError(
            f"{request.composition}: no node routes with the {STRATEGY} strategy (routing nodes: {used})",
            hint=f'tune learns {STRATEGY} routers: set "router": "{STRATEGY}" on the node that routes',
        )
    fallback = request.fallback
    if fallback is not None and not any(fallback in routes.targets[n] for n in nodes):
        targets = sorted({t for n in nodes for t in routes.targets[n]})
        close = difflib.get_close_matches(fallback, targets, n=1, cutoff=0.6)
        guess = f' (did you mean "{close[0]}"?)' if close else ""
        raise UsageError(
            f'--fallback: "{fallback}" is not a target of a {STRATEGY} routing node{guess}',
            hint=f"targets: {', '.join(targets)}",
        )
    return nodes


async def _learn_all(
    pipeline: Any, items: list[Item], routes: Routes, nodes: Sequence[str], request: TuneRequest
) -> list[NodeResult]:
    import sys

    from llmnet_core import show_activity

    results: list[NodeResult] = []
    with show_activity(enabled=sys.stderr.isatty()):
        await pipeline.start()  # models load here, with a spinner on a terminal
    async with pipeline:
        for node in nodes:
            result = await learn_node(pipeline, items, routes, node, request)
            if result is not None:
                results.append(result)
    if not results:
        from llmnet_core import UsageError

        raise UsageError(
            f"{request.data}: too few labelled requests for {', '.join(nodes)} (at least 2 each)",
            hint="label requests with the handlers these nodes choose between",
        )
    _claim_handlers(results)
    return results


def _candidates(composition: Any, routes: Routes, node: str) -> tuple[Any, ...]:
    from llmnet_core import Candidate

    configs = composition.nodes
    return tuple(
        Candidate(
            name=t,
            use_case=configs[t].use_case or "",
            examples=tuple(configs[t].examples),
            is_output=t in routes.outputs,
        )
        for t in routes.targets[node]
    )


async def learn_node(
    pipeline: Any, items: list[Item], routes: Routes, node: str, request: TuneRequest
) -> NodeResult | None:
    """Learn one node's setting; None when too few labelled requests route through it."""
    from llmnet_core import node_embedder

    targets = routes.targets[node]
    samples = []
    for item in items:
        right = routes.acceptable(targets, item.labels)
        if right and node not in item.labels:
            samples.append(Sample(item, tuple(right)))
    if len(samples) < 2:
        return None
    options = dict(pipeline.composition.nodes[node].router_options)
    template = options.get("template", "{text}")
    embeddings = Embeddings(node_embedder(pipeline, node), {template.format(text=i.text) for i in items})
    router = pipeline.registries.routers.get(routes.strategies[node])()
    base = Setting(_candidates(pipeline.composition, routes, node), options)
    tuner = NodeTuner(node, router, base, samples, embeddings, lambda t: pipeline.redactor(t) != t)
    fallback = request.fallback if request.fallback in targets else None
    with status(f"tune {node}: embedding {len(samples)} labelled requests"):
        await tuner.vectors([s.item.text for s in samples])
    with status(f"tune {node}: {request.folds}-fold cross-validation"):
        before = await tuner.score(base, samples)
        after = await tuner.cross_validate(request.k, fallback, request.folds, request.seed)
        final, examples = await tuner.learn(samples, request.k, fallback, request.seed)
    changed = {key: v for key, v in final.options.items() if options.get(key, _MISSING) != v}
    handlers = [t for t in targets if any(t == s.right[0] for s in samples)]
    return NodeResult(node, len(samples), handlers, before, after, examples, final.options, changed, fallback)


def _claim_handlers(results: list[NodeResult]) -> None:
    """A handler that several tuned nodes choose between gets the examples of the first one only."""
    owner: dict[str, str] = {}
    for result in results:
        for handler in list(result.examples):
            if handler in owner:
                del result.examples[handler]
                result.notes.append(f'examples of "{handler}" are left to node "{owner[handler]}"')
            else:
                owner[handler] = result.node


def planned_changes(data: dict[str, Any], results: Sequence[NodeResult]) -> list[Change]:
    """The changes what was learned makes to the composition's parsed `data` (none that change nothing)."""
    nodes = {n.get("name"): n for n in data.get("architecture") or [] if isinstance(n, dict)}
    changes = []
    for result in results:
        for handler, examples in result.examples.items():
            if examples and nodes.get(handler, {}).get("examples") != examples:
                changes.append(Change(handler, {"examples": examples}))
        if result.changed_options:
            changes.append(Change(result.node, dict(result.changed_options), options=True))
    return changes


def edited_text(request: TuneRequest, original: str, data: dict[str, Any], changes: list[Change]) -> str:
    """The composition with the changes: its text edited in place (comments kept), or, when that cannot
    be done and --output names a new file, plain JSON."""
    from llmnet_core import UsageError

    try:
        text, lost = apply_to_text(original, changes)
    except EditError as exc:
        if not request.output:
            raise UsageError(
                f"{request.composition}: cannot be edited in place ({exc}); nothing written",
                hint="give --output NEW_FILE to write the tuned composition as plain JSON, without comments",
            ) from None
        click.echo(
            f"note: {request.composition} cannot be edited in place ({exc}); {request.output} "
            "is written as plain JSON, without its comments",
            err=True,
        )
        return as_plain_json(apply_to_data(data, changes))
    if lost:
        keys = ", ".join(sorted(set(lost)))
        click.echo(f"note: comments inside the replaced values ({keys}) are not kept", err=True)
    return text


def render(request: TuneRequest, results: Sequence[NodeResult]) -> str:
    """The report of what was learned, node by node."""
    lines = []
    for result in results:
        if lines:
            lines.append("")
        lines += _render_node(request, result)
    return "\n".join(lines)


def _render_node(request: TuneRequest, r: NodeResult) -> list[str]:
    folds = min(request.folds, r.samples)
    lines = [
        f"{r.node} ({STRATEGY}): {r.samples} labelled requests over {len(r.handlers)} handlers",
        f"  accuracy, {folds}-fold cross-validated: before {percent(r.before.accuracy)}"
        f" → after {percent(r.after.accuracy)}",
    ]
    rows = [("handler", "labelled", "examples", "recall before", "after")]
    for handler in r.handlers:
        labelled = r.before.labelled[handler]
        rows.append(
            (
                handler,
                str(labelled),
                str(len(r.examples.get(handler, []))),
                percent(r.before.per_handler[handler] / labelled if labelled else None),
                percent(r.after.per_handler[handler] / labelled if labelled else None),
            )
        )
    from .report import table

    lines += ["  " + line for line in table(rows)]
    lines += [f"  {line}" for line in _threshold_lines(r, request.fallback)]
    if (r.after.accuracy or 0) < (r.before.accuracy or 0):
        lines.append("  note: the current setting routes these requests better than what was learned")
    lines += [f"  note: {note}" for note in r.notes]
    return lines


def _threshold_lines(r: NodeResult, asked: str | None) -> list[str]:
    if asked is None:
        return []
    if r.fallback is None:
        return [f'--fallback "{asked}" is not a target of this node: no threshold fitted']
    score = r.options.get("min-score", r.options.get("min_score"))
    if score is None:
        return [f'min-score: none (sending low scores to "{r.fallback}" never helped on these requests)']
    return [f'min-score {score}: requests whose best score is lower go to "{r.fallback}"']


def _save(request: TuneRequest, pipeline: Any, original: str, new_text: str) -> None:
    from llmnet_core import CompositionError, load_composition

    def check(temporary: Path) -> None:
        try:
            load_composition(temporary, registries=pipeline.registries)
        except CompositionError as exc:
            raise CompositionError(f"{request.composition} as tuned", exc.problems) from None

    if request.output:
        create_file(request.output, new_text, check, like=request.composition)
        click.echo(f"wrote {request.output}", err=True)
    elif request.write:
        replace_file(request.composition, new_text, original, check)
        click.echo(f"wrote {request.composition}", err=True)
    elif request.overrides:
        click.echo("not written: --set changes are for this run only (put them in the file first)", err=True)
    else:
        click.echo(
            f"not written: add --write to change {request.composition}, or --output NEW_FILE", err=True
        )
