"""A request log that cannot be written never fails a request (a corrupt file, a locked one, one from a
newer version); several processes write to one file at once; `llmnet serve` logs only when asked;
`llmnet chat` logs each turn with the conversation before it."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

LLMNET = Path(sys.executable).with_name("llmnet")
TIMEOUT = 120  # seconds: a bound, never a measure of speed


def test_a_corrupt_file_does_not_fail_the_run(llmnet, support, logs_env):
    db = Path(logs_env["LLMNET_LOGS_PATH"])
    db.parent.mkdir()
    db.write_bytes(b"this is not a database, whatever its name says\n" * 200)

    result = llmnet("run", support.path, "My invoice")
    assert (result.returncode, result.stdout) == (0, "answer to: My invoice\n")
    assert result.stderr == ""
    debug = llmnet("--debug", "run", support.path, "My invoice")
    assert debug.returncode == 0 and re.search(r"request log .*: 1 request\(s\) not logged", debug.stderr)

    listed = llmnet("logs")
    assert listed.returncode == 1
    assert listed.stderr.startswith(f"error: cannot read the request log {db}")
    assert "move the file away" in listed.stderr


def test_a_locked_file_does_not_fail_the_run(llmnet, logs_json, support, logs_env):
    assert llmnet("run", support.path, "first").returncode == 0
    holder = sqlite3.connect(logs_env["LLMNET_LOGS_PATH"], isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than llmnet waits
        result = llmnet("--debug", "run", support.path, "while locked")
        assert (result.returncode, result.stdout) == (0, "answer to: while locked\n")
        assert "not logged: database is locked" in result.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert llmnet("run", support.path, "after").returncode == 0
    assert [row["prompt"] for row in logs_json()] == ["first", "after"]


def test_a_file_from_a_newer_version_is_left_alone(llmnet, support, logs_env):
    assert llmnet("run", support.path, "first").returncode == 0
    with sqlite3.connect(logs_env["LLMNET_LOGS_PATH"]) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    assert llmnet("run", support.path, "second").returncode == 0
    with sqlite3.connect(logs_env["LLMNET_LOGS_PATH"]) as conn:
        assert conn.execute("SELECT count(*) FROM requests").fetchone() == (1,)
    listed = llmnet("logs")
    assert listed.returncode == 1 and "written by a newer llmnet-logs" in listed.stderr


def test_processes_writing_at_once_lose_nothing(llmnet, logs_json, support):
    prompts = [f"question number {i}" for i in range(6)]
    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(lambda p: llmnet("run", support.path, p), prompts))
    assert [r.returncode for r in results] == [0] * len(prompts)
    assert sorted(row["prompt"] for row in logs_json("-n", "100")) == sorted(prompts)


def _serve(path: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [str(LLMNET), "serve", str(path), "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    for line in process.stderr:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}/v1"
    process.kill()
    raise AssertionError("llmnet serve did not start")


def _ask_and_stop(process: subprocess.Popen[str], url: str, text: str) -> None:
    try:
        reply = httpx.post(
            f"{url}/chat/completions",
            json={"model": "x", "messages": [{"role": "user", "content": text}]},
            timeout=TIMEOUT,
        )
        assert reply.status_code == 200, reply.text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0


def test_serve_logs_only_when_asked(support, logs_env, logs_json):
    pytest.importorskip("llmnet_serve")
    db = Path(logs_env["LLMNET_LOGS_PATH"])
    _ask_and_stop(*_serve(support.path, logs_env), "not logged")
    assert not db.exists()

    _ask_and_stop(*_serve(support.path, logs_env, "--log-requests"), "my invoice, served")
    _ask_and_stop(*_serve(support.path, {**logs_env, "LLMNET_LOG_SERVE": "1"}), "served too")
    rows = logs_json()
    assert [(r["source"], r["prompt"], r["handler"]) for r in rows] == [
        ("serve", "my invoice, served", "billing"),
        ("serve", "served too", "tech"),
    ]


def test_chat_turns_are_logged_with_their_conversation(llmnet, logs_json, support, tmp_path):
    pytest.importorskip("llmnet_chat")
    chat = llmnet("chat", support.path, input="My invoice is wrong\nand the app crashes\n")
    assert chat.returncode == 0, chat.stderr

    first, second = logs_json()
    assert (first["source"], second["source"]) == ("chat", "chat")
    assert (first["handler"], second["handler"]) == ("billing", "tech")
    shown = json.loads(llmnet("logs", "show", second["id"], "--json").stdout)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user"]
    assert "before the prompt (2 messages)" in llmnet("logs", "show", second["id"]).stdout

    lines = [json.loads(line) for line in llmnet("logs", "export").stdout.splitlines()]
    assert lines[0]["text"] == "My invoice is wrong"
    assert [m["content"] for m in lines[1]["messages"]] == [
        "My invoice is wrong",
        "answer to: My invoice is wrong",
        "and the app crashes",
    ]
    assert llmnet("chat", "--no-log", support.path, input="not logged\n").returncode == 0
    assert len(logs_json()) == 2
