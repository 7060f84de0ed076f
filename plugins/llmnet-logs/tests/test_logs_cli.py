"""`llmnet run` as users run it (a subprocess, a fake model server), then `llmnet logs` reading the real
SQLite file it wrote: list, JSON, show, search, filters, export read back by `llmnet eval`."""

from __future__ import annotations

import hashlib
import json
import sqlite3


def test_every_run_is_logged_and_listed(llmnet, logs_json, support, logs_env):
    first = llmnet("run", support.path, "My invoice shows a double charge")
    second = llmnet("run", support.path, "The app crashes when I log in")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr

    rows = logs_json()
    assert [r["prompt"] for r in rows] == [
        "My invoice shows a double charge",
        "The app crashes when I log in",
    ]
    billing, tech = rows
    assert billing["answer"] == "answer to: My invoice shows a double charge"
    assert (billing["handler"], billing["route"]) == ("billing", ["router", "billing", "output"])
    assert (tech["handler"], tech["reason"]) == ("tech", "condition")
    assert billing["source"] == "run" and billing["error"] is None
    assert billing["composition"] == "support"
    assert billing["composition_path"] == str(support.path.resolve())
    assert billing["composition_sha256"] == hashlib.sha256(support.path.read_bytes()).hexdigest()
    assert billing["usage"]["total_tokens"] > 0 and billing["model_calls"] == 1
    assert billing["duration_ms"] > 0 and billing["started"].endswith("Z")

    text = llmnet("logs")
    assert text.returncode == 0
    header, *lines = text.stdout.splitlines()
    assert header.split()[:3] == ["id", "when", "source"]
    assert "billing" in lines[0] and "My invoice shows a double charge" in lines[0]
    assert "tech" in lines[1] and "The app crashes when I log in" in lines[1]
    # the file is where LLMNET_LOGS_PATH says, and only its owner can read it
    path = llmnet("logs", "path").stdout.strip()
    assert path == logs_env["LLMNET_LOGS_PATH"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM requests").fetchone() == (2,)
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_show_prints_one_request_with_its_trace(llmnet, logs_json, support):
    llmnet("run", support.path, "My invoice is wrong")
    llmnet("run", support.path, "Wifi drops")
    number = logs_json("--node", "billing")[0]["id"]

    page = llmnet("logs", "show", number)
    assert page.returncode == 0, page.stderr
    assert "answered by billing (condition)" in page.stdout
    assert "prompt\n  My invoice is wrong" in page.stdout
    assert "answer\n  answer to: My invoice is wrong" in page.stdout
    table = page.stdout.split("\n\n")[-1].splitlines()
    assert table[0].split()[:2] == ["hop", "node"] and table[-1].startswith("total ")
    assert [row.split()[1] for row in table[1:-1]] == ["router", "billing", "output"]

    data = json.loads(llmnet("logs", "show", number, "--json").stdout)
    assert [hop["node"] for hop in data["trace"]["hops"]] == ["router", "billing", "output"]
    assert data["messages"] == [{"role": "user", "content": "My invoice is wrong"}]
    last = json.loads(llmnet("logs", "show", "last", "--json").stdout)
    assert last["prompt"] == "Wifi drops"
    by_request_id = json.loads(llmnet("logs", "show", data["request_id"], "--json").stdout)
    assert by_request_id["id"] == number

    missing = llmnet("logs", "show", "999")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no logged request 999")


def test_search_filters_and_limits(llmnet, logs_json, support):
    for prompt in ("Refund my invoice please", "The printer is on fire", "Second invoice question"):
        assert llmnet("run", support.path, prompt).returncode == 0

    assert [r["prompt"] for r in logs_json("-q", "printer")] == ["The printer is on fire"]
    assert [r["prompt"] for r in logs_json("-q", "invoice question")] == ["Second invoice question"]
    assert [r["prompt"] for r in logs_json("-q", "answer printer")] == [
        "The printer is on fire"
    ]  # in the answer
    assert [r["prompt"] for r in logs_json("-q", "invoi")] == [
        "Refund my invoice please",
        "Second invoice question",
    ]
    assert logs_json("-q", '"; DROP TABLE requests; --') == []  # no query syntax reaches SQL or FTS5
    assert [r["handler"] for r in logs_json("--node", "tech")] == ["tech"]
    assert len(logs_json("--node", "router")) == 3  # every route goes through the entry node
    assert [r["prompt"] for r in logs_json("-n", "1")] == ["Second invoice question"]
    assert len(logs_json("--since", "1h")) == 3
    assert logs_json("--since", "2999-01-01") == []
    assert len(logs_json("--composition", "support")) == 3
    assert len(logs_json("--composition", "support.json")) == 3
    assert logs_json("--composition", "other") == []

    bad = llmnet("logs", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_export_feeds_llmnet_eval(llmnet, support, tmp_path):
    prompts = ["Where is my invoice?", "My screen is black", "Invoice total is wrong", "Reset my password"]
    for prompt in prompts:
        assert llmnet("run", support.path, prompt).returncode == 0
    out = tmp_path / "labelled.jsonl"

    exported = llmnet("logs", "export", "-o", out)
    assert exported.returncode == 0, exported.stderr
    assert "exported 4 labelled requests" in exported.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["text"], line["label"]) for line in lines] == [
        ("Where is my invoice?", "billing"),
        ("My screen is black", "tech"),
        ("Invoice total is wrong", "billing"),
        ("Reset my password", "tech"),
    ]

    report = llmnet("eval", support.path, out, "--format", "json")
    assert report.returncode == 0, report.stderr
    run = json.loads(report.stdout)["runs"][0]
    assert (run["requests"], run["correct"]) == (4, 4)

    # a label corrected by hand: eval now counts that request as misrouted
    lines[1]["label"] = "billing"
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = json.loads(llmnet("eval", support.path, out, "--format", "json").stdout)["runs"][0]
    assert (run["correct"], [m["text"] for m in run["misrouted"]]) == (3, ["My screen is black"])


def test_failed_requests_are_logged_but_not_exported(llmnet, logs_json, support, tmp_path):
    support.server.push(status=400)  # the model refuses the next request
    failed = llmnet("run", support.path, "My invoice again")
    assert failed.returncode == 1

    rows = logs_json()
    assert rows[0]["error"] and rows[0]["answer"] is None and rows[0]["handler"] == "billing"
    assert logs_json("--failed")[0]["id"] == rows[0]["id"]
    assert "failed (billing)" in llmnet("logs").stdout

    nothing = llmnet("logs", "export", "-o", tmp_path / "none.jsonl")
    assert nothing.returncode == 2 and "no answered request to export" in nothing.stderr
    assert not (tmp_path / "none.jsonl").exists()

    assert llmnet("run", support.path, "Wifi is slow").returncode == 0
    exported = llmnet("logs", "export")
    assert exported.returncode == 0
    assert [json.loads(line)["text"] for line in exported.stdout.splitlines()] == ["Wifi is slow"]
    assert "1 failed or unanswered skipped" in exported.stderr


def test_nothing_logged_yet(llmnet):
    listed = llmnet("logs")
    assert listed.returncode == 0 and listed.stdout == ""
    assert listed.stderr.startswith("no requests logged yet (")
    assert llmnet("logs", "--json").stdout.strip() == "[]"
