"""`llmnet logs export`: answered requests as labelled JSON Lines, the format `llmnet eval` and `llmnet tune`
read, with the node that answered as the label (to be corrected by hand where it was wrong)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from llmnet_core import UsageError

from . import store
from .view import open_log


def labelled(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """One exported line: `text` (or `messages` for a conversation) and `label`, plus `log_id`, `route`
    and `composition`, which `llmnet eval` ignores; None for a request that failed or that no node
    answered."""
    if row["error"] or not row["handler"] or not row["prompt"].strip():
        return None
    messages = row["messages"] if isinstance(row["messages"], list) else []
    line: dict[str, Any] = {}
    if len(messages) > 1:
        line["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
    else:
        line["text"] = row["prompt"]
    line |= {"label": row["handler"], "log_id": row["id"], "route": row["route"]}
    line["composition"] = row["composition"]
    return line


def export_requests(query: store.Query, output: str) -> None:
    """Write the labelled requests that `query` selects (oldest first) to `output` (`-`: stdout)."""
    with open_log() as conn:
        rows = store.select(conn, query, oldest_first=True) if conn is not None else []
    lines = [line for line in map(labelled, rows) if line is not None]
    if not lines:
        raise UsageError(
            "no answered request to export" + (" matches" if rows else ""),
            hint="`llmnet logs` lists what was logged; failed requests are not exported",
        )
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if output == "-":
        click.echo(text, nl=False)
    else:
        _write_atomically(Path(output), text)
    _report(lines, rows, output)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {path}: {exc.strerror}", hint="check that the folder exists and is writable"
        ) from None


def _report(lines: list[dict[str, Any]], rows: list[dict[str, Any]], output: str) -> None:
    """Say on stderr what was written and what to do next; warn when several compositions are mixed."""
    skipped = len(rows) - len(lines)
    where = "standard output" if output == "-" else output
    note = f" ({skipped} failed or unanswered skipped)" if skipped else ""
    count = f"{len(lines)} labelled request{'s' if len(lines) != 1 else ''}"
    click.echo(f"exported {count} to {where}{note}", err=True)
    compositions = sorted({line["composition"] or "default" for line in lines})
    if len(compositions) > 1:
        click.echo(
            f"warning: they come from {len(compositions)} compositions ({', '.join(compositions)}); "
            "add --composition NAME to export one, since eval checks labels against one composition",
            err=True,
        )
    if output != "-":
        paths = {row["composition_path"] for row in rows if not row["error"]}
        shown = paths.pop() if len(paths) == 1 and None not in paths else "COMPOSITION"
        click.echo(
            "each label is the node that answered: correct the wrong ones, then "
            f"llmnet eval {shown} {output}",
            err=True,
        )
