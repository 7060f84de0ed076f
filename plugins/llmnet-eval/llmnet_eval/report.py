"""The text report of `llmnet eval`, drawn from the same dict that `--format json` prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: misrouted requests listed per run when not told otherwise
MISROUTES_SHOWN = 20


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def shorten(text: str, width: int = 72) -> str:
    """One line of at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Columns padded to their widest cell: the first `left` columns to the left, the rest to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def render(report: dict[str, Any], misroutes: int = MISROUTES_SHOWN) -> str:
    """The whole report: what ran, then a comparison table when several strategies ran, then each run."""
    lines = [_header(report)]
    runs = report["runs"]
    if len(runs) > 1:
        lines += ["", *comparison(runs)]
    for run in runs:
        lines.append("")
        if len(runs) > 1:
            lines += [f"── {run['strategy']} ──", ""]
        lines += render_run(run, misroutes)
    if report.get("min_accuracy") is not None:
        verdict = "passed" if report["passed"] else "FAILED"
        lines += ["", f"{verdict}: accuracy must be at least {percent(report['min_accuracy'])}"]
    return "\n".join(lines)


def _header(report: dict[str, Any]) -> str:
    mode = "handlers run too (--full)" if report["mode"] == "full" else "routing decisions only"
    nodes = ", ".join(f"{node} ({strategy})" for node, strategy in report["routing"].items())
    count = report["requests"]
    head = f"{report['composition']} on {report['data']}: {count} request{'s' if count != 1 else ''}, {mode}"
    routing = f"routing nodes: {nodes or 'none (conditions and single targets only)'}"
    if report["runs"][0]["strategy"] is not None:
        routing += "; each run below gives all of them its strategy"
    return f"{head}\n{routing}"


def comparison(runs: Sequence[dict[str, Any]]) -> list[str]:
    rows = [("strategy", "accuracy", "right", "errors", "p50 ms", "p90 ms")]
    for run in runs:
        latency = run["latency_ms"]
        rows.append(
            (
                str(run["strategy"]),
                percent(run["accuracy"]),
                f"{run['correct']}/{run['scored']}",
                str(run["errors"]),
                milliseconds(latency["p50"]),
                milliseconds(latency["p90"]),
            )
        )
    return table(rows)


def render_run(run: dict[str, Any], misroutes: int = MISROUTES_SHOWN) -> list[str]:
    """One run's figures, misrouted requests and failures."""
    if run["error"]:
        return [f"error: {run['error']}", *_failures(run["failed"][:1])]
    lines = [
        f"accuracy  {percent(run['accuracy'])}  ({run['correct']} of {run['scored']})",
        f"decision  p50 {milliseconds(run['latency_ms']['p50'])} ms · "
        f"p90 {milliseconds(run['latency_ms']['p90'])} ms"
        "  (time in routing strategies per request, after the first)",
    ]
    if run["errors"]:
        lines.append(f"errors    {run['errors']} (not counted in accuracy; listed below)")
    if len(run["kinds"]) > 1:
        lines += ["", *_kinds(run["kinds"])]
    lines += ["", "confusion (rows: label · columns: where the request went)", *_confusion(run["confusion"])]
    lines += ["", *_handlers(run["handlers"])]
    if run["routing_nodes"]:
        lines += ["", *_nodes(run["routing_nodes"])]
    lines += _misroutes(run["misrouted"], misroutes)
    if run["failed"]:
        lines += ["", f"failed ({len(run['failed'])})", *_failures(run["failed"])]
    return lines


def _kinds(kinds: dict[str, dict[str, Any]]) -> list[str]:
    rows = [("requests", "count", "right", "accuracy")]
    for name, k in kinds.items():
        rows.append((name, str(k["requests"]), str(k["correct"]), percent(k["accuracy"])))
    return table(rows)


def _confusion(data: dict[str, Any]) -> list[str]:
    labels = data["labels"]
    rows = [["", *labels]]
    rows += [[label, *map(str, counts)] for label, counts in zip(labels, data["matrix"], strict=True)]
    return ["  " + line for line in table(rows)]


def _handlers(handlers: dict[str, dict[str, Any]]) -> list[str]:
    rows = [("handler", "precision", "recall", "labelled", "routed")]
    for name, h in handlers.items():
        rows.append(
            (name, percent(h["precision"]), percent(h["recall"]), str(h["requests"]), str(h["routed"]))
        )
    return table(rows, left=1)


def _nodes(nodes: dict[str, dict[str, Any]]) -> list[str]:
    rows = [("routing node", "strategy", "decisions", "right", "wrong", "unjudged", "accuracy", "p50 ms")]
    for name, n in nodes.items():
        rows.append(
            (
                name,
                n["strategy"],
                str(n["decisions"]),
                str(n["right"]),
                str(n["wrong"]),
                str(n["unjudged"]),
                percent(n["accuracy"]),
                milliseconds(n["p50_ms"]),
            )
        )
    lines = table(rows, left=2)
    if any(n["unjudged"] for n in nodes.values()):
        lines.append("(unjudged: the label was already reached, or an earlier step left its branch)")
    return lines


def _misroutes(misrouted: Sequence[dict[str, Any]], limit: int) -> list[str]:
    if not misrouted or limit <= 0:
        return []
    lines = ["", f"misrouted ({len(misrouted)})"]
    for item in misrouted[:limit]:
        expected = " or ".join(item["labels"])
        lines.append(f'  line {item["line"]}  "{shorten(item["text"])}"')
        lines.append(f"      expected {expected} · went to {item['routed_to']} · {' → '.join(item['route'])}")
        lines += [f"      {step_line(step)}" for step in item["decisions"] if _explains(step)]
    if len(misrouted) > limit:
        lines.append(f"  ... {len(misrouted) - limit} more (--misroutes N shows more; --format json has all)")
    return lines


def _explains(step: dict[str, Any]) -> bool:
    return "strategy" in step or bool(step.get("conditions"))


def step_line(step: dict[str, Any]) -> str:
    """`router → facts  semantic: most similar (...)  facts 0.41 · code 0.38`: one routing step."""
    head = f"{step['node']} → {step['chosen']}"
    if "strategy" not in step:
        held = ", ".join(f"{n}: {'true' if ok else 'false'}" for n, ok in step["conditions"].items())
        return f"{head}  conditions ({held})"
    parts = [f"{head}  {step['strategy']}: {step.get('reason') or ''}".rstrip()]
    if step.get("answer") is not None:
        parts.append(f'answer "{shorten(str(step["answer"]), 40)}"')
    scores = sorted((step.get("scores") or {}).items(), key=lambda kv: kv[1], reverse=True)
    if scores:
        parts.append(", ".join(f"{name} {value:.2f}" for name, value in scores[:5]))
    return " · ".join(parts)


def _failures(failed: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for item in failed:
        lines.append(f"  line {item['line']}  {item['type']}: {item['error']}")
        if item.get("hint"):
            lines.append(f"      {item['hint']}")
    return lines
