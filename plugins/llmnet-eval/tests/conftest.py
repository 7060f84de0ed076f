"""Shared parts of the llmnet-eval tests: the `llmnet` command in-process and as a subprocess, labelled
request files, and compositions of fake OpenAI-compatible servers whose routing answers the tests set."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

from llmnet_core.cli import cli

LLMNET = Path(sys.executable).with_name("llmnet")


def invoke(*args: Any, env: Mapping[str, str] | None = None) -> Result:
    """`llmnet ARGS` in-process (the plugins of the current host); never a traceback."""
    result = CliRunner().invoke(cli, [str(a) for a in args], obj={}, env=env, catch_exceptions=False)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr, result.stderr
    return result


def llmnet(
    *args: Any, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`.venv/bin/llmnet ARGS` as a real subprocess (bounded)."""
    return subprocess.run(
        [str(LLMNET), *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


def last_user(request: Mapping[str, Any]) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def answers(table: Mapping[str, str], default: str = "none of them") -> Callable[[Mapping[str, Any]], str]:
    """A routing model's reply: the answer `table` gives for the routed text."""
    return lambda request: table.get(last_user(request), default)


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write labelled requests (dicts, or raw lines as strings) to a .jsonl file; returns its path."""
    counter = iter(range(1_000_000))

    def write(rows: list[Any], name: str | None = None) -> Path:
        path = tmp_path / (name or f"requests-{next(counter)}.jsonl")
        lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def model(server: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "external", "url": server.url, "retries": 0, **extra}


def one_layer(router: Any, handler: Any, **router_model: Any) -> dict[str, Any]:
    """A router (layer 0, `llm` strategy) choosing between billing, tech and sales."""
    handlers = {"billing": "invoices, refunds, charges", "tech": "bugs and crashes", "sales": "plans, prices"}
    return {
        "models": {"r": model(router, **router_model), "h": model(handler)},
        "architecture": [
            {"name": "router", "layer": 0, "model": "r", "output-to": [1]},
            *(
                {"name": name, "layer": 1, "model": "h", "use-case": use, "output-to": ["output"]}
                for name, use in handlers.items()
            ),
            {"name": "output", "adapter": "output"},
        ],
    }


#: the labelled requests of `one_layer`, what its router answers, and what follows (4 of 6 right)
ROUTER_ANSWERS = {
    "I was charged twice": "billing",
    "The app crashes on start": "tech",
    "Upgrade my plan": "billing",
    "Refund for my upgrade": "sales",
    "My invoice is wrong": "billing",
    "The printer is on fire": "sales",
}
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": "hi, how can I help?"},
    {"role": "user", "content": "My invoice is wrong"},
]
LABELLED = [
    {"text": "I was charged twice", "label": "billing"},
    {"text": "The app crashes on start", "label": "tech"},
    "",  # a blank line: skipped, and the lines after it keep their numbers
    {"text": "Upgrade my plan", "label": "sales"},
    {"text": "Refund for my upgrade", "label": ["billing", "sales"]},
    {"messages": CONVERSATION, "label": "billing"},
    {"text": "The printer is on fire", "label": "tech"},
]


@pytest.fixture
def support(fake_server, write_composition, write_jsonl) -> Any:
    """The one-layer composition on fake servers, and its labelled requests."""

    class Setup:
        router = fake_server(answers(ROUTER_ANSWERS), name="router")
        handler = fake_server("handled", name="handler")
        composition = write_composition(one_layer(router, handler), "support.json")
        data = write_jsonl(LABELLED, "support.jsonl")

    return Setup


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for the test modules (which cannot import this file by name)."""
    return SimpleNamespace(
        invoke=invoke,
        llmnet=llmnet,
        last_user=last_user,
        answers=answers,
        model=model,
        one_layer=one_layer,
        ROUTER_ANSWERS=ROUTER_ANSWERS,
        CONVERSATION=CONVERSATION,
        LABELLED=LABELLED,
    )
