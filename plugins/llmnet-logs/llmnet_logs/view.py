"""What `llmnet logs`, `logs show`, `logs path` and `logs clear` print: for people, a table and a page
per request; for programs (`--json`), every field."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import click

from llmnet_core import LLMNetError, UsageError, excerpt

from . import store
from .settings import OFF_ENV, PATH_ENV, logging_off, logs_path
from .when import iso_utc, local_time


class LogError(LLMNetError):
    """The request log cannot be read."""


@contextlib.contextmanager
def open_log() -> Iterator[sqlite3.Connection | None]:
    """The request log, open for reading (None when nothing was logged yet); a file that is not a
    request log is a LogError naming it and saying what to do."""
    path = logs_path()
    if not path.exists():
        yield None
        return
    try:
        conn = store.connect(path, create=False)
    except store.NewerSchema as exc:
        raise LogError(
            f"{path}: written by a newer llmnet-logs ({exc})", hint="upgrade llmnet-logs"
        ) from None
    except (sqlite3.Error, OSError) as exc:
        raise LogError(
            f"cannot read the request log {path}: {exc}",
            hint=f"move the file away (the next request starts a new one), or set {PATH_ENV} to another file",
        ) from None
    try:
        yield conn
    except sqlite3.Error as exc:
        raise LogError(f"cannot read the request log {path}: {exc}") from None
    finally:
        conn.close()


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """A logged request as `llmnet logs --json` gives it (no messages, no trace)."""
    return {
        "id": row["id"],
        "request_id": row["request_id"],
        "started": iso_utc(row["started"]),
        "source": row["source"],
        "composition": row["composition"],
        "composition_path": row["composition_path"],
        "composition_sha256": row["composition_sha256"],
        "prompt": row["prompt"],
        "answer": row["answer"],
        "error": row["error"],
        "handler": row["handler"],
        "reason": row["reason"],
        "route": row["route"],
        "duration_ms": row["duration_ms"],
        "usage": {
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "total_tokens": row["total_tokens"],
        },
        "model_calls": row["model_calls"],
    }


def list_requests(query: store.Query, *, as_json: bool) -> None:
    """Print the matching requests, oldest first: a table, or a JSON array."""
    with open_log() as conn:
        rows = store.select(conn, query, oldest_first=True) if conn is not None else []
    if as_json:
        click.echo(json.dumps([summary(row) for row in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(_nothing_logged(query), err=True)
        return
    click.echo(table(rows, shutil.get_terminal_size((120, 24)).columns))


def _nothing_logged(query: store.Query) -> str:
    path = logs_path()
    if not path.exists():
        note = f"; logging is off ({OFF_ENV} is set)" if logging_off() else ""
        return f"no requests logged yet ({path}){note}"
    return "no logged request matches" if _filtered(query) else f"no requests logged in {path}"


def _filtered(query: store.Query) -> bool:
    return any(v is not None for v in (query.node, query.text, query.since, query.composition, query.failed))


def table(rows: list[dict[str, Any]], width: int) -> str:
    """One line per request: id, when, source, composition, the node that answered, ms, tokens, prompt."""
    header = ("id", "when", "source", "composition", "answered by", "ms", "tokens")
    cells = [header]
    for row in rows:
        answered = row["handler"] or "–"
        if row["error"]:
            answered = f"failed ({answered})" if row["handler"] else "failed"
        ms = f"{row['duration_ms']:.0f}" if row["duration_ms"] is not None else "–"
        tokens = str(row["total_tokens"]) if row["total_tokens"] else "–"
        composition = excerpt(row["composition"] or "–", 24)
        cells.append(
            (str(row["id"]), local_time(row["started"]), row["source"], composition, answered, ms, tokens)
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    right = {0, 5, 6}
    lines = []
    room = max(20, width - sum(widths) - 2 * len(widths) - 1)
    for index, line in enumerate(cells):
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(line)]
        prompt = "prompt" if index == 0 else excerpt(rows[index - 1]["prompt"], room)
        lines.append("  ".join([*parts, prompt]).rstrip())
    return "\n".join(lines)


def find(conn: sqlite3.Connection, wanted: str) -> dict[str, Any]:
    """The request `wanted` names: its number, `last`, or its request id; a UsageError otherwise."""
    if wanted == "last":
        rows = store.select(conn, store.Query(limit=1))
        if rows:
            return rows[0]
    elif wanted.isdigit():
        row = store.get(conn, int(wanted))
        if row is not None:
            return row
    else:
        rows = conn.execute(
            "SELECT id FROM requests WHERE request_id = ? ORDER BY id DESC", (wanted,)
        ).fetchall()
        if rows:
            found = store.get(conn, rows[0][0])
            assert found is not None
            return found
    raise UsageError(f"no logged request {wanted}", hint="`llmnet logs` lists them, with their numbers")


def show_request(wanted: str, *, as_json: bool) -> None:
    """Print one logged request: a page for people, or every field as JSON."""
    with open_log() as conn:
        if conn is None:
            raise UsageError(f"no logged request {wanted}: nothing was logged yet ({logs_path()})")
        row = find(conn, wanted)
    if as_json:
        data = summary(row)
        data |= {"messages": row["messages"], "trace": row["trace"]}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(page(row))


def page(row: Mapping[str, Any]) -> str:
    """One request for people: what, when, who answered and why, the conversation, the answer, the trace."""
    where = row["composition"] or "default"
    if row["composition_path"]:
        where += f" ({row['composition_path']}"
        where += f", sha256 {row['composition_sha256'][:12]})" if row["composition_sha256"] else ")"
    lines = [f"request {row['id']} · {local_time(row['started'])} · {row['source']} · {where}"]
    facts = []
    if row["handler"]:
        facts.append(f"answered by {row['handler']}" + (f" ({row['reason']})" if row["reason"] else ""))
    if row["duration_ms"] is not None:
        facts.append(f"{row['duration_ms'] / 1000:.2f} s")
    if row["total_tokens"]:
        facts.append(f"{row['total_tokens']} tokens")
    facts.append(f"id {row['request_id']}")
    lines.append(" · ".join(facts))
    messages = row["messages"] if isinstance(row["messages"], list) else []
    earlier = messages[:-1] if messages and messages[-1].get("role") == "user" else messages
    if earlier:
        lines += ["", f"before the prompt ({len(earlier)} message{'s' if len(earlier) != 1 else ''})"]
        lines += [f"  {m.get('role')}: {excerpt(str(m.get('content', '')), 100)}" for m in earlier]
    lines += ["", "prompt", _indented(row["prompt"])]
    if row["answer"] is not None:
        lines += ["", "answer", _indented(row["answer"])]
    if row["error"]:
        lines += ["", f"error: {row['error']}"]
    if row["trace_table"]:
        lines += ["", row["trace_table"]]
    return "\n".join(lines)


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in (text or "").splitlines() or [""])


def print_path() -> None:
    """The log's path on stdout; whether it exists and whether logging is off on stderr."""
    path = logs_path()
    click.echo(str(path))
    if logging_off():
        click.echo(f"logging is off ({OFF_ENV} is set)", err=True)
    elif not path.exists():
        click.echo("(no request logged yet: the file is created by the first one)", err=True)


def clear_requests(before: float | None, *, yes: bool) -> None:
    """Delete logged requests (all, or those older than `before`), asking first unless `yes`."""
    path = logs_path()
    what = "every logged request" if before is None else f"the requests logged before {local_time(before)}"
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"this deletes {what} in {path}", hint="add --yes to confirm")
        click.confirm(f"Delete {what} in {path}?", abort=True, err=True)
    with open_log() as conn:
        if conn is None:
            click.echo(f"nothing to delete: no requests logged yet ({path})", err=True)
            return
        count = store.delete(conn, before)
        store.compact(conn)
    click.echo(f"deleted {count} logged request{'s' if count != 1 else ''} from {path}", err=True)
