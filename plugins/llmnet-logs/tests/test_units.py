"""The pure parts in-process: the schema and its version, search with and without FTS5, the exported
lines, moments on the command line, and the observer with a real pipeline."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from llmnet_logs import store
from llmnet_logs.export import labelled
from llmnet_logs.record import answering_node, composition_name
from llmnet_logs.settings import logs_path, logs_source
from llmnet_logs.when import parse_when
from llmnet_logs.writer import WRITER

from llmnet_core import Pipeline, data_dir


def _row(**fields) -> dict:
    row = dict.fromkeys(store.COLUMNS)
    row |= {"request_id": "r", "started": 1.0, "source": "run", "prompt": "", "messages": [], "route": []}
    row |= {"trace": {}, "trace_table": ""}
    return row | fields


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    conn = store.connect(tmp_path / "deep" / "folder" / "logs.db")
    yield conn
    conn.close()


def test_a_new_file_gets_the_current_schema(db):
    assert store.schema_version(db) == store.SCHEMA_VERSION
    assert db.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)
    assert store.has_fts(db) == store.fts5_available(db)
    store.ensure_schema(db)  # again: nothing to do
    assert db.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_a_file_from_a_newer_version_is_refused(db, tmp_path):
    db.execute("UPDATE schema_version SET version = ?", (store.SCHEMA_VERSION + 1,))
    with pytest.raises(store.NewerSchema):
        store.connect(tmp_path / "deep" / "folder" / "logs.db")


def test_search_without_fts5_falls_back_to_like(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "fts5_available", lambda conn: False)
    conn = store.connect(tmp_path / "plain.db")
    assert not store.has_fts(conn)
    store.insert(conn, [_row(prompt="100% off_peak"), _row(prompt="Double charge", answer="refund")])
    found = [r["prompt"] for r in store.select(conn, store.Query(text="double REFUND"))]
    assert found == ["Double charge"]
    assert [r["prompt"] for r in store.select(conn, store.Query(text="100%"))] == ["100% off_peak"]
    assert store.select(conn, store.Query(text="100_")) == []  # LIKE wildcards are literal
    monkeypatch.undo()
    store.ensure_schema(conn)  # a SQLite with FTS5 later adds the index and fills it
    if store.fts5_available(conn):
        assert store.has_fts(conn)
        assert [r["prompt"] for r in store.select(conn, store.Query(text="refund"))] == ["Double charge"]


def test_fts_queries_quote_every_word():
    assert store.fts_query(["double", 'say "hi"', "NEAR("]) == '"double"* "say ""hi"""* "NEAR("*'


def test_node_filter_matches_whole_names(db):
    store.insert(db, [_row(route=["router", "tech_2", "output"]), _row(route=["router", "tech", "output"])])
    assert [r["route"][1] for r in store.select(db, store.Query(node="tech"))] == ["tech"]
    assert [r["route"][1] for r in store.select(db, store.Query(node="tech_2"))] == ["tech_2"]
    assert store.select(db, store.Query(node="tech%")) == []


def test_exported_lines():
    row = _row(
        id=7, prompt="hi", messages=[{"role": "user", "content": "hi"}], handler="chat", route=["chat"]
    )
    assert labelled(row) == {
        "text": "hi",
        "label": "chat",
        "log_id": 7,
        "route": ["chat"],
        "composition": None,
    }
    history = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "hi"},
    ]
    assert labelled(row | {"messages": history})["messages"] == history
    assert labelled(row | {"error": "boom"}) is None
    assert labelled(row | {"handler": None}) is None


def test_the_node_that_answered():
    hops = [
        {"node": "router", "role": "router", "chosen_by": "entry"},
        {"node": "billing", "role": "handler", "chosen_by": "semantic router 0.81"},
        {"node": "polish", "role": "handler", "chosen_by": "only target"},
        {"node": "output", "role": "output", "chosen_by": "only target"},
    ]
    assert answering_node(hops) == ("polish", "only target")
    assert answering_node(hops[:1]) == (None, None)
    assert composition_name(None, "/x/support.jsonc") == "support"
    assert composition_name("Support desk", "/x/support.jsonc") == "Support desk"
    assert composition_name(None, None) == "default"


def test_moments():
    assert parse_when("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_when("1.5d", now=0.0) == -1.5 * 86400
    assert parse_when("2025-05-01") < parse_when("2025-05-01T09:30")
    with pytest.raises(ValueError, match="neither a span"):
        parse_when("soon")


def test_where_the_log_lives(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMNET_LOGS_PATH", raising=False)
    monkeypatch.delenv("LLMNET_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert logs_path() == tmp_path / "xdg" / "llmnet" / "logs.db" == data_dir() / "logs.db"
    monkeypatch.setenv("LLMNET_DATA_DIR", str(tmp_path / "data"))
    assert logs_path() == tmp_path / "data" / "logs.db"
    monkeypatch.setenv("LLMNET_LOGS_PATH", str(tmp_path / "x.db"))
    assert logs_path() == tmp_path / "x.db"


def test_who_is_logged(monkeypatch):
    monkeypatch.delenv("LLMNET_NO_LOG", raising=False)
    monkeypatch.delenv("LLMNET_LOG_SERVE", raising=False)
    assert [logs_source(s) for s in ("run", "chat", "serve", "library")] == [True, True, False, False]
    monkeypatch.setenv("LLMNET_LOG_SERVE", "1")
    assert logs_source("serve")
    monkeypatch.setenv("LLMNET_NO_LOG", "true")
    assert not logs_source("run")


async def test_the_observer_logs_a_pipeline_run(host, fake_server, monkeypatch, tmp_path):
    monkeypatch.delenv("LLMNET_NO_LOG", raising=False)
    monkeypatch.setenv("LLMNET_LOGS_PATH", str(tmp_path / "in-process.db"))
    server = fake_server("hello back")
    composition = {
        "models": {"m": {"type": "external", "url": server.url, "api-key": None}},
        "architecture": [
            {"name": "chat", "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    async with Pipeline.from_dict(composition, host=host) as pipeline:
        await pipeline.run("as a library: not logged")
        await pipeline.run("as a command", source="run")
    assert WRITER.flush(10)
    conn = store.connect(tmp_path / "in-process.db", create=False)
    rows = store.select(conn, store.Query())
    assert [(r["prompt"], r["answer"], r["handler"], r["composition"]) for r in rows] == [
        ("as a command", "hello back", "chat", "default")
    ]
    conn.close()


def test_a_log_deleted_while_a_process_writes_is_started_again(tmp_path):
    path = tmp_path / "log.db"
    WRITER.put(path, _row(prompt="first"))
    assert WRITER.flush(10)
    for file in tmp_path.glob("log.db*"):
        file.unlink()
    WRITER.put(path, _row(prompt="second"))
    assert WRITER.flush(10)
    conn = store.connect(path, create=False)
    assert [r["prompt"] for r in store.select(conn, store.Query())] == ["second"]
    conn.close()


def test_serve_requests_are_logged_as_asked_when_the_first_one_ended(monkeypatch, tmp_path):
    import time

    from llmnet_logs.observer import RequestLog

    from llmnet_core import Message, Span, Trace

    monkeypatch.delenv("LLMNET_NO_LOG", raising=False)
    monkeypatch.setenv("LLMNET_LOGS_PATH", str(tmp_path / "served.db"))
    quiet, asked = RequestLog(), RequestLog()

    def served(prompt: str) -> Span:
        attributes = {
            "source": "serve",
            "trace": Trace(request_id=prompt),
            "messages": [Message("user", prompt)],
            "answer": "an answer",
        }
        return Span("request", prompt, attributes, None, time.time_ns(), time.time_ns())

    monkeypatch.delenv("LLMNET_LOG_SERVE", raising=False)
    quiet.span_ended(served("not logged"))
    monkeypatch.setenv("LLMNET_LOG_SERVE", "1")
    asked.span_ended(served("logged"))
    quiet.span_ended(served("still not logged"))  # read at the first request, not at each
    monkeypatch.delenv("LLMNET_LOG_SERVE")
    asked.span_ended(served("still logged"))
    assert WRITER.flush(10)
    conn = store.connect(tmp_path / "served.db", create=False)
    assert sorted(r["prompt"] for r in store.select(conn, store.Query())) == ["logged", "still logged"]
    conn.close()
