"""The figures of one evaluation run, as a JSON-ready dict (what `--format json` prints and the text
report shows): accuracy, confusion, per-handler precision and recall, decision latency, per routing
node how its decisions went, the misrouted requests and the requests that failed.

A request is right when one of its labels is on the route it took. In the confusion matrix its row is the
label it reached (else its first label) and its column the label it reached (else the last node before
the output: the handler that would answer).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .graph import Routes
from .runner import Decision, Outcome


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..1) of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def judge(outcome: Outcome, routes: Routes) -> tuple[bool, str, str]:
    """(right?, confusion row, confusion column) of a request that ran."""
    labels = outcome.item.labels
    reached = [label for label in labels if label in outcome.route]
    if reached:
        return True, reached[0], reached[0]
    return False, labels[0], routes.handler_of(outcome.route)


def summarise(outcomes: Sequence[Outcome], routes: Routes, strategy: str | None) -> dict[str, Any]:
    """Everything a run showed, JSON-ready (rounded milliseconds, ratios in 0..1)."""
    ran = [o for o in outcomes if o.error is None]
    judged = [(o, *judge(o, routes)) for o in ran]
    correct = sum(1 for _, right, _, _ in judged if right)
    cells = Counter((row, column) for _, _, row, column in judged)
    latency = decision_times(ran)
    failed = [o for o in outcomes if o.error is not None]
    return {
        "strategy": strategy,
        "requests": len(outcomes),
        "scored": len(ran),
        "correct": correct,
        "errors": len(failed),
        "accuracy": ratio(correct, len(ran)),
        "latency_ms": {"p50": _ms(percentile(latency, 0.5)), "p90": _ms(percentile(latency, 0.9))},
        "kinds": kinds(judged),
        "confusion": confusion(cells, routes),
        "handlers": handlers(cells, routes),
        "routing_nodes": routing_nodes(ran, routes),
        "misrouted": [misroute(o, column) for o, right, _, column in judged if not right],
        "failed": [
            {"line": o.item.line, "text": o.text, "type": o.error_type, "error": o.error, "hint": o.hint}
            for o in failed
        ],
        "error": _all_failed(failed) if outcomes and not ran else None,
    }


def decision_times(ran: Sequence[Outcome]) -> list[float]:
    """Each request's time in routing strategies, for those that asked one. The first such request of a
    run pays for set-up (loading a model, embedding the handlers' texts), so it is left out when others
    remain."""
    times = [o.routing_ms for o in ran if any(d.strategy for d in o.decisions)]
    return times[1:] if len(times) > 1 else times


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _all_failed(failed: Sequence[Outcome]) -> str:
    first = failed[0]
    return f"every request failed; line {first.item.line}: {first.error}"


def kinds(judged: Sequence[tuple[Outcome, bool, str, str]]) -> dict[str, dict[str, Any]]:
    """Accuracy per group of requests (their `kind`, else `single` or `conversation`)."""
    counts: dict[str, Counter[str]] = {}
    for outcome, right, _, _ in judged:
        counts.setdefault(outcome.item.group, Counter())["right" if right else "wrong"] += 1
    return {
        group: {
            "requests": c["right"] + c["wrong"],
            "correct": c["right"],
            "accuracy": ratio(c["right"], c["right"] + c["wrong"]),
        }
        for group, c in counts.items()
    }


def confusion(cells: Counter[tuple[str, str]], routes: Routes) -> dict[str, Any]:
    """Rows: labels; columns: where requests went; `labels` orders both."""
    labels = routes.sort({name for cell in cells for name in cell})
    matrix = [[cells.get((row, column), 0) for column in labels] for row in labels]
    return {"labels": labels, "matrix": matrix}


def handlers(cells: Counter[tuple[str, str]], routes: Routes) -> dict[str, dict[str, Any]]:
    """Per node: precision (of the requests sent there, how many belonged), recall (of those that
    belonged there, how many arrived), with the counts behind them."""
    out: dict[str, dict[str, Any]] = {}
    for name in routes.sort({n for cell in cells for n in cell}):
        right = cells.get((name, name), 0)
        labelled = sum(count for (row, _), count in cells.items() if row == name)
        routed = sum(count for (_, column), count in cells.items() if column == name)
        out[name] = {
            "precision": ratio(right, routed),
            "recall": ratio(right, labelled),
            "requests": labelled,
            "routed": routed,
            "right": right,
        }
    return out


def step_verdict(outcome: Outcome, index: int, routes: Routes) -> str:
    """`right`, `wrong` or `unjudged` for the outcome's decision at `index`: unjudged when a label was
    already reached before it, or no candidate could still lead to a label (an earlier step left the
    labelled branch)."""
    labels = outcome.item.labels
    decision = outcome.decisions[index]
    if any(label in outcome.route[: index + 1] for label in labels):
        return "unjudged"
    acceptable = routes.acceptable(decision.detail.get("candidates") or [decision.chosen], labels)
    if not acceptable:
        return "unjudged"
    return "right" if decision.chosen in acceptable else "wrong"


def routing_nodes(ran: Sequence[Outcome], routes: Routes) -> dict[str, dict[str, Any]]:
    """Per node whose strategy chose: its decisions, how many were right, wrong or unjudged, the accuracy
    of the judged ones and the median time of a decision."""
    counts: dict[str, Counter[str]] = {}
    times: dict[str, list[float]] = {}
    strategies: dict[str, str] = {}
    for outcome in ran:
        for index, decision in enumerate(outcome.decisions):
            if not decision.strategy:
                continue
            counts.setdefault(decision.node, Counter())[step_verdict(outcome, index, routes)] += 1
            times.setdefault(decision.node, []).append(decision.ms)
            strategies[decision.node] = decision.strategy
    out = {}
    for node in routes.sort(counts):
        c = counts[node]
        out[node] = {
            "strategy": strategies[node],
            "decisions": sum(c.values()),
            "right": c["right"],
            "wrong": c["wrong"],
            "unjudged": c["unjudged"],
            "accuracy": ratio(c["right"], c["right"] + c["wrong"]),
            "p50_ms": _ms(percentile(times[node], 0.5)),
        }
    return out


def misroute(outcome: Outcome, routed_to: str) -> dict[str, Any]:
    """A misrouted request with every step of its route and what the strategies said."""
    return {
        "line": outcome.item.line,
        "text": outcome.text,
        "labels": list(outcome.item.labels),
        "routed_to": routed_to,
        "route": list(outcome.route),
        "decisions": [_step(d) for d in outcome.decisions],
    }


def _step(decision: Decision) -> dict[str, Any]:
    detail = decision.detail
    step: dict[str, Any] = {"node": decision.node, "chosen": decision.chosen, "chosen_by": decision.chosen_by}
    for key in ("strategy", "candidates", "reason", "answer", "scores", "conditions"):
        if key in detail:
            step[key] = detail[key]
    if "ms" in detail:
        step["ms"] = _ms(decision.ms)
    return step
