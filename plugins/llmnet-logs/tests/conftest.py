"""Shared parts of the llmnet-logs tests: `llmnet` run for real (a subprocess) with the request log in the
test's folder, and a composition that routes by a condition between two handlers answered by a fake
OpenAI-compatible server (so `llmnet eval` can check the route without a model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

LLMNET = Path(sys.executable).with_name("llmnet")
TIMEOUT = 120  # seconds: a bound on one command, never a measure of speed


def routed_composition(url: str, name: str = "support") -> dict[str, Any]:
    """`router` (layer 0) sends requests that mention an invoice to `billing`, the others to `tech`."""
    model = {"type": "external", "url": url, "api-key": None, "retries": 0}
    return {
        "name": name,
        "models": {"m": model},
        "architecture": [
            {"name": "router", "layer": 0, "output-to": [1]},
            {
                "name": "billing",
                "layer": 1,
                "model": "m",
                "if": 'icontains($INPUT, "invoice")',
                "output-to": ["output"],
            },
            {
                "name": "tech",
                "layer": 1,
                "model": "m",
                "if": 'not icontains($INPUT, "invoice")',
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.fixture
def logs_env(tmp_path: Path) -> dict[str, str]:
    """The environment for `llmnet`: the request log at tmp/logs/requests.db, logging on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMNET_")}
    env["LLMNET_LOGS_PATH"] = str(tmp_path / "logs" / "requests.db")
    return env


@pytest.fixture
def llmnet(logs_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`llmnet ARGS` as a subprocess in `logs_env` (plus `env=` overrides; a None value unsets)."""

    def run(*args: Any, env: dict[str, str | None] | None = None, input: str | None = None):
        merged = dict(logs_env)
        for key, value in (env or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        result = subprocess.run(
            [str(LLMNET), *map(str, args)],
            capture_output=True,
            text=True,
            env=merged,
            input=input,
            timeout=TIMEOUT,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture
def support(fake_server, write_composition) -> Iterator[SimpleNamespace]:
    """A fake model that answers `<node's words>: <the request>`, and the routed composition using it."""
    server = fake_server(lambda request: f"answer to: {request['messages'][-1]['content']}")
    path = write_composition(routed_composition(server.url), "support.json")
    yield SimpleNamespace(server=server, path=path)


@pytest.fixture
def logs_json(llmnet: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., list[dict[str, Any]]]:
    """`llmnet logs --json ARGS`, parsed."""

    def read(*args: Any) -> list[dict[str, Any]]:
        result = llmnet("logs", "--json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return read
