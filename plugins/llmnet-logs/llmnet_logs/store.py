"""The request log's SQLite file: its schema (versioned, migrated forward in place), one row written per
request, and the queries `llmnet logs` runs.

The file is in WAL mode, so readers never wait for writers, and every write is one short `BEGIN
IMMEDIATE` transaction with a busy timeout, so several processes (`llmnet serve --workers N`, a `run`
next to a `chat`) can write to it at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the version this code writes; a file with a higher one was written by a newer llmnet-logs
SCHEMA_VERSION = 1
#: how long a writer waits for another process's write to finish (seconds)
BUSY_TIMEOUT = 2.0

#: per version, the statements that bring a file from the version before it to this one
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            started REAL NOT NULL,
            source TEXT NOT NULL,
            composition TEXT,
            composition_path TEXT,
            composition_sha256 TEXT,
            prompt TEXT NOT NULL,
            messages TEXT NOT NULL,
            answer TEXT,
            error TEXT,
            handler TEXT,
            reason TEXT,
            route TEXT NOT NULL,
            duration_ms REAL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            total_tokens INTEGER,
            model_calls INTEGER,
            trace TEXT NOT NULL,
            trace_table TEXT NOT NULL
        )""",
        "CREATE INDEX requests_started ON requests (started)",
        "CREATE INDEX requests_handler ON requests (handler)",
        "INSERT INTO schema_version (version) VALUES (0)",
    ),
)
assert len(MIGRATIONS) == SCHEMA_VERSION

#: full-text search over prompts and answers, where SQLite has FTS5 (kept in step by triggers)
FTS_STATEMENTS = (
    "CREATE VIRTUAL TABLE requests_fts USING fts5(prompt, answer, content='requests', content_rowid='id')",
    """CREATE TRIGGER requests_fts_insert AFTER INSERT ON requests BEGIN
        INSERT INTO requests_fts (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
    END""",
    """CREATE TRIGGER requests_fts_delete AFTER DELETE ON requests BEGIN
        INSERT INTO requests_fts (requests_fts, rowid, prompt, answer)
        VALUES ('delete', old.id, old.prompt, old.answer);
    END""",
    "INSERT INTO requests_fts (requests_fts) VALUES ('rebuild')",
)

#: the columns of a row, in order (`id` is given by SQLite)
COLUMNS = (
    "request_id",
    "started",
    "source",
    "composition",
    "composition_path",
    "composition_sha256",
    "prompt",
    "messages",
    "answer",
    "error",
    "handler",
    "reason",
    "route",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "model_calls",
    "trace",
    "trace_table",
)
#: columns holding JSON text, decoded when read
JSON_COLUMNS = ("messages", "route", "trace")


class NewerSchema(Exception):
    """The file was written by a newer version of llmnet-logs: this one leaves it alone."""


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """An open connection to the log at `path`, its schema brought up to date; the file (only readable
    by its owner: it holds prompts and answers) and its folder are created when `create` is true."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    elif not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        ensure_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's schema version, 0 for a new (empty) file."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not found:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Bring the file's schema to SCHEMA_VERSION (one transaction; concurrent processes wait for it), and
    add the full-text index where SQLite has FTS5 and the file lacks it."""
    if schema_version(conn) == SCHEMA_VERSION and (has_fts(conn) or not fts5_available(conn)):
        return
    with transaction(conn):
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise NewerSchema(f"schema version {version}; this llmnet-logs knows up to {SCHEMA_VERSION}")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        if not has_fts(conn) and fts5_available(conn):
            for statement in FTS_STATEMENTS:
                conn.execute(statement)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Any:
    """`BEGIN IMMEDIATE` ... `COMMIT` (rolled back on any error): a writer takes the lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def fts5_available(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite has the FTS5 module."""
    try:
        return bool(conn.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()[0])
    except sqlite3.Error:
        return False


def has_fts(conn: sqlite3.Connection) -> bool:
    """Whether the file has the full-text index."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'requests_fts'").fetchone()
    return found is not None


def insert(conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write `rows` (dicts keyed by COLUMNS; JSON columns as Python values) in one transaction."""
    placeholders = ", ".join("?" for _ in COLUMNS)
    statement = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    values = [tuple(_encoded(name, row.get(name)) for name in COLUMNS) for row in rows]
    with transaction(conn):
        conn.executemany(statement, values)


def _encoded(name: str, value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if name in JSON_COLUMNS else value


@dataclass(frozen=True)
class Query:
    """Which logged requests to read: the newest `limit` that match every filter given."""

    limit: int | None = 20
    node: str | None = None  #: on the route (or the node that answered)
    text: str | None = None  #: words found in the prompt or the answer
    since: float | None = None  #: Unix time
    composition: str | None = None  #: name, file path or file name
    failed: bool | None = None  #: True: failed requests only; False: answered ones only


def select(conn: sqlite3.Connection, query: Query, *, oldest_first: bool = False) -> list[dict[str, Any]]:
    """The matching rows, newest first (or oldest first), JSON columns decoded."""
    where, params = _conditions(conn, query)
    sql = "SELECT * FROM requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    rows = [_decoded(row) for row in _rows(conn, sql, params)]
    return rows[::-1] if oldest_first else rows


def get(conn: sqlite3.Connection, row_id: int) -> dict[str, Any] | None:
    """One row by its id, None when there is none."""
    rows = _rows(conn, "SELECT * FROM requests WHERE id = ?", [row_id])
    return _decoded(rows[0]) if rows else None


def delete(conn: sqlite3.Connection, before: float | None = None) -> int:
    """Delete every row (or those started before `before`, Unix time), their bytes overwritten in the
    file; returns how many."""
    conn.execute("PRAGMA secure_delete = ON")
    with transaction(conn):
        if before is None:
            cursor = conn.execute("DELETE FROM requests")
        else:
            cursor = conn.execute("DELETE FROM requests WHERE started < ?", (before,))
        if has_fts(conn) and fts5_available(conn):
            # a deletion only marks the index's entries as deleted: rebuilding drops their words
            conn.execute("INSERT INTO requests_fts (requests_fts) VALUES ('rebuild')")
    return cursor.rowcount


def compact(conn: sqlite3.Connection) -> None:
    """Rebuild the file without its free pages and empty the write-ahead log, so that deleted requests
    leave nothing behind; skipped while another process holds the file."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.row_factory = None


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for name in JSON_COLUMNS:
        with contextlib.suppress(TypeError, ValueError):
            data[name] = json.loads(data[name])
    return data


def _conditions(conn: sqlite3.Connection, query: Query) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.node:
        where.append("(handler = ? OR route LIKE ? ESCAPE '\\')")
        params += [query.node, f"%{_like_escape(json.dumps(query.node, ensure_ascii=False))}%"]
    if query.since is not None:
        where.append("started >= ?")
        params.append(query.since)
    if query.composition:
        where.append("(composition = ? OR composition_path = ? OR composition_path LIKE ? ESCAPE '\\')")
        params += [query.composition, query.composition, f"%/{_like_escape(query.composition)}"]
    if query.failed is not None:
        where.append("error IS NOT NULL" if query.failed else "error IS NULL")
    if query.text and query.text.split():
        words = query.text.split()
        if has_fts(conn) and fts5_available(conn):
            where.append("id IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?)")
            params.append(fts_query(words))
        else:
            for word in words:
                pattern = f"%{_like_escape(word)}%"
                where.append("(prompt LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\')")
                params += [pattern, pattern]
    return where, params


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 query that finds every word (or a word that starts with it), whatever punctuation it
    holds: each word is a quoted prefix phrase, so no word is read as FTS5 syntax."""
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
