"""What the request log must never hold: a secret's value (anywhere in the file's bytes), and anything at
all when logging is off; and what `logs clear` must leave behind: nothing of the deleted requests."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from llmnet_testing import free_port


def _file_bytes(db: Path) -> bytes:
    """The log and its write-ahead log and shared memory, as they are on disk."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_a_secret_never_reaches_the_file(llmnet, fake_server, write_composition, tmp_path, logs_env):
    canary = "cnry-" + secrets.token_hex(12)
    (tmp_path / "secrets.env").write_text(f"TOKEN={canary}\n")
    # the model echoes the whole conversation (the system prompt holds the secret) and the API key
    server = fake_server(lambda r: " / ".join(m["content"] for m in r["messages"]), fault="echo-key")
    composition = {
        "secrets": {
            "s": {"source": "env-file", "path": str(tmp_path / "secrets.env"), "variables": ["TOKEN"]}
        },
        "models": {"m": {"type": "external", "url": server.url, "api-key": "$secrets.s.TOKEN", "retries": 0}},
        "functions": {
            # a hook whose URL carries the secret, and fails: its error quotes the URL
            "audit": {
                "type": "rest",
                "method": "POST",
                "url": f"http://127.0.0.1:{free_port()}/a?t=$secrets.s.TOKEN",
            }
        },
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "m",
                "context": "Internal code: $secrets.s.TOKEN",
                "output-to": ["output"],
                "hooks": {"pre": [{"function": "audit", "mode": "transform", "on_failure": "continue"}]},
            },
            {"name": "output", "adapter": "output"},
        ],
    }
    path = write_composition(composition, "secret.json")

    result = llmnet("run", path, f"my token is {canary}, keep it")
    assert result.returncode == 0, result.stderr
    assert canary not in result.stdout and "***" in result.stdout

    db = Path(logs_env["LLMNET_LOGS_PATH"])
    assert canary.encode() not in _file_bytes(db)
    row = json.loads(llmnet("logs", "show", "last", "--json").stdout)
    assert row["prompt"] == "my token is ***, keep it"
    assert "Internal code: ***" in row["answer"] and "key=*** ok" in row["answer"]
    hook = row["trace"]["hops"][0]["hooks"][0]
    assert hook["status"] == "failed" and hook["error"]
    for shown in (
        llmnet("logs").stdout,
        llmnet("logs", "show", "last").stdout,
        llmnet("logs", "export").stdout,
    ):
        assert canary not in shown


def test_no_log_and_llmnet_no_log_write_nothing(llmnet, support, logs_env):
    db = Path(logs_env["LLMNET_LOGS_PATH"])
    assert llmnet("run", "--no-log", support.path, "My invoice").returncode == 0
    assert llmnet("run", support.path, "My invoice", env={"LLMNET_NO_LOG": "1"}).returncode == 0
    assert not db.exists() and not db.parent.exists()
    # "0" or "false" mean logging stays on
    assert llmnet("run", support.path, "My invoice", env={"LLMNET_NO_LOG": "0"}).returncode == 0
    assert db.exists()
    assert "logging is off" in llmnet("logs", "path", env={"LLMNET_NO_LOG": "yes"}).stderr


def test_the_default_place_is_the_data_folder(llmnet, support, tmp_path):
    data = tmp_path / "xdg-data"
    env = {"LLMNET_LOGS_PATH": None, "XDG_DATA_HOME": str(data)}
    assert llmnet("run", support.path, "My invoice", env=env).returncode == 0
    assert llmnet("logs", "path", env=env).stdout.strip() == str(data / "llmnet" / "logs.db")
    assert (data / "llmnet" / "logs.db").exists()
    assert (data / "llmnet").stat().st_mode & 0o777 == 0o700
    assert (data / "llmnet" / "logs.db").stat().st_mode & 0o777 == 0o600


def test_clear_leaves_nothing_of_the_deleted_requests(llmnet, logs_json, support, logs_env):
    marker = "zebra" + "crossing" * 3
    assert llmnet("run", support.path, f"invoice {marker}").returncode == 0
    assert llmnet("run", support.path, "another question").returncode == 0
    db = Path(logs_env["LLMNET_LOGS_PATH"])
    assert marker.encode() in _file_bytes(db)

    refused = llmnet("logs", "clear")  # not a terminal: no one to ask
    assert refused.returncode == 2 and "--yes" in refused.stderr
    cleared = llmnet("logs", "clear", "--yes")
    assert cleared.returncode == 0 and "deleted 2 logged requests" in cleared.stderr
    assert logs_json() == []
    assert marker.encode() not in _file_bytes(db)

    assert llmnet("run", support.path, "after clearing").returncode == 0
    kept = llmnet("logs", "clear", "--yes", "--before", "2000-01-01")
    assert "deleted 0 logged requests" in kept.stderr
    assert [r["prompt"] for r in logs_json()] == ["after clearing"]
