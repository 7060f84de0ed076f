"""The backend fault matrix: every fault `FakeOpenAIServer` injects (`FAULTS`) × the node it hits (the
routing entry node, or a handler it routes to) × the way llmnet is used: `llmnet run` streaming,
streaming with `--debug`, `--no-stream` and `--format json`, and `llmnet serve` plain and streaming
through the official `openai` client.

A fault that breaks the answer fails the run: exit 1 (HTTP 502/504 or an SSE error event for `serve`)
with a message of at most two lines that names the node and the model's URL, and no traceback. A fault
whose answer is whole (a huge reply, one that quotes the API key) succeeds, with the key masked. The
canary API key appears in no output channel: stdout, stderr, `--debug` stderr, JSON, SSE, serve's log.

The streaming `run` cells are real processes, started together in threads when the module begins; the
`--no-stream` and `--format json` cells run in-process through click's runner; one `llmnet serve`
process answers every `serve` cell.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner
from llmnet_testing import FAULTS, FakeOpenAIServer

from llmnet_core.cli import cli

LLMNET = str(Path(sys.executable).parent / "llmnet")
BANNER = re.compile(r"llmnet serve: (http://127\.0\.0\.1:\d+)/v1")

CANARY = f'sk-canary-{secrets.token_hex(10)}"q\\{secrets.token_hex(6)}'
ENV = {**os.environ, "CANARY_KEY": CANARY}
WHOLE = ("huge", "echo-key", "echo-key-escaped", "echo-key-base64", "echo-key-split")
HUGE = 300_000
POSITIONS = ("router", "handler")
RUN_MODES = ("stream", "debug", "no-stream", "json")
ROUTER_PROMPT = "You are a router."
MARKER = re.compile(r"\[via ([\w-]+)\]")


def leaked(text: str) -> list[str]:
    """The pieces of the canary key found in `text`: any 8 characters of it as written or JSON-escaped,
    or 12 characters of its base64 forms (the key alone, HTTP basic auth)."""
    forms = {CANARY, json.dumps(CANARY)[1:-1]}
    for raw in (CANARY.encode(), b"svc:" + CANARY.encode()):
        encoded = base64.b64encode(raw).decode()
        forms |= {encoded[4:], encoded.translate(str.maketrans("+/", "-_"))[4:]}
    found = []
    for form in forms:
        size = 12 if form.isascii() and "sk-" not in form else 8
        found += [form[i : i + size] for i in range(len(form) - size + 1) if form[i : i + size] in text]
    return found


def answer(request: dict[str, Any]) -> str:
    """The fake models' answer: a router names the target of the request's `[via NAME]` marker when it is
    one of its candidates, else none (llmnet then takes the first, with a warning that quotes the
    answer); any other node answers "fine answer"."""
    messages = request["messages"]
    if not str(messages[0].get("content", "")).startswith(ROUTER_PROMPT):
        return "fine answer"
    names = re.findall(r"^- ([\w-]+):", messages[0]["content"], re.MULTILINE)
    wanted = MARKER.findall(messages[-1]["content"])
    return next((name for name in wanted if name in names), "none of them")


#: a router whose answer names no candidate takes the first one (with a warning quoting the answer)
FIRST_ON_NO_MATCH = {"router-options": {"no-match": "first"}}


def model(url: str) -> dict[str, Any]:
    return {"type": "external", "url": url, "api-key": "$CANARY_KEY", "retries": 0, "timeout": 1}


def run_composition(router_url: str, handler_url: str) -> dict[str, Any]:
    """The entry node `router` (default `llm` router) choosing between handlers `alpha` and `beta`."""
    handler = {"layer": 1, "model": "handler-model", "output-to": ["output"]}
    return {
        "models": {"router-model": model(router_url), "handler-model": model(handler_url)},
        "architecture": [
            {"name": "router", "layer": 0, "model": "router-model", "output-to": [1], **FIRST_ON_NO_MATCH},
            {"name": "alpha", "use-case": "questions about alpha", **handler},
            {"name": "beta", "use-case": "questions about beta", **handler},
            {"name": "output", "adapter": "output"},
        ],
    }


def serve_composition(server: FakeOpenAIServer, urls: dict[str, str]) -> dict[str, Any]:
    """One composition for every `serve` cell: the healthy entry `front` routes by the request's marker to
    `r-FAULT` (a router whose model has the fault, choosing between `ok-a` and `ok-b`) or to `h-FAULT` (a
    handler whose model has it)."""
    models = {"good": model(server.url)} | {f"m-{fault}": model(url) for fault, url in urls.items()}
    nodes: list[dict[str, Any]] = [{"name": "front", "layer": 0, "model": "good", "output-to": [1]}]
    for fault in FAULTS:
        router = {"name": f"r-{fault}", "layer": 1, "model": f"m-{fault}", "output-to": ["ok-a", "ok-b"]}
        nodes.append({**router, **FIRST_ON_NO_MATCH})
        nodes.append({"name": f"h-{fault}", "layer": 1, "model": f"m-{fault}", "output-to": ["output"]})
    for name in ("ok-a", "ok-b"):
        nodes.append({"name": name, "layer": 2, "model": "good", "output-to": ["output"]})
    nodes.append({"name": "output", "adapter": "output"})
    return {"models": models, "architecture": nodes}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@dataclass
class Cell:
    fault: str
    node: str  # the node whose model has the fault
    url: str  # that model's address, as the error names it


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(answer, slow_delay=20, huge_size=HUGE) as fake:
        yield fake


@pytest.fixture(scope="module")
def cells(server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Every `run` cell's composition file and faulty URL; the streaming ones are started at once."""
    folder = tmp_path_factory.mktemp("faults")
    made: dict[tuple[str, str], Any] = {}
    for fault in FAULTS:
        for position in POSITIONS:
            url = server.fault_url(fault)
            urls = (url, server.url) if position == "router" else (server.url, url)
            path = folder / f"{position}-{fault}.json"
            path.write_text(json.dumps(run_composition(*urls)), encoding="utf-8")
            made[fault, position] = (path, Cell(fault, "router" if position == "router" else "alpha", url))
    return made


@pytest.fixture(scope="module")
def processes(cells: dict[tuple[str, str], Any]) -> Iterator[dict[tuple[str, str, str], Future[Outcome]]]:
    """The streaming `llmnet run` cells, as real processes run four at a time in threads."""

    def start(path: Path, position: str, debug: bool) -> Outcome:
        command = [LLMNET, *(["--debug"] if debug else []), "run", str(path), question(position)]
        done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=60, check=False)
        return Outcome(done.returncode, done.stdout, done.stderr)

    with ThreadPoolExecutor(4) as pool:
        yield {
            (fault, position, mode): pool.submit(start, path, position, mode == "debug")
            for (fault, position), (path, _cell) in cells.items()
            for mode in ("stream", "debug")
        }


def question(position: str) -> str:
    """A faulty router's answer names no handler (the run falls back to `alpha` with a warning that
    quotes the answer); a healthy one names `alpha`."""
    return "a question [via nowhere]" if position == "router" else "a question [via alpha]"


def in_process(path: Path, position: str, mode: str) -> Outcome:
    args = ["run", str(path), question(position)]
    args += ["--no-stream"] if mode == "no-stream" else ["--format", "json"]
    result = CliRunner().invoke(cli, args, env={"CANARY_KEY": CANARY}, catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def check_message(message: str, cell: Cell, prefix: str = "") -> None:
    """At most two lines, the first naming the node and the URL, and no traceback."""
    lines = message.strip().splitlines()
    assert 1 <= len(lines) <= 2, message
    assert lines[0].startswith(f'{prefix}node "{cell.node}": '), message
    assert f"{cell.url}/v1/chat/completions" in lines[0], message
    assert "Traceback" not in message


@pytest.mark.parametrize("mode", RUN_MODES)
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("fault", FAULTS)
def test_run(fault: str, position: str, mode: str, cells, processes) -> None:
    path, cell = cells[fault, position]
    if mode in ("stream", "debug"):
        outcome = processes[fault, position, mode].result(timeout=120)
    else:
        outcome = in_process(path, position, mode)
    everything = outcome.stdout + outcome.stderr
    assert not leaked(everything), everything[-2000:]
    if fault in WHOLE:
        assert outcome.code == 0, outcome.stderr[-2000:]
        text = json.loads(outcome.stdout)["output"] if mode == "json" else outcome.stdout
        assert text.startswith("fine answer"), text[:200]
        if fault == "huge" and position == "handler":
            assert len(text) > HUGE
        if fault.startswith("echo") and position == "handler":
            assert "key=***" in text
        if mode != "debug":
            assert "Traceback" not in everything
        return
    assert outcome.code == 1, (outcome.stdout[-500:], outcome.stderr[-2000:])
    if mode == "debug":
        assert f'node "{cell.node}"' in outcome.stderr
        return
    error = outcome.stderr.strip()
    check_message(error, cell, prefix="error: ")
    if mode == "json":
        check_message(json.loads(outcome.stdout)["error"]["message"], cell)


# -- llmnet serve ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    urls = {fault: server.fault_url(fault) for fault in FAULTS}
    path = tmp_path_factory.mktemp("serve") / "faults.json"
    path.write_text(json.dumps(serve_composition(server, urls)), encoding="utf-8")
    command = [LLMNET, "serve", str(path), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    log: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if BANNER.search(line):
                started.set()
        started.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        started.wait(30)
        match = BANNER.search("".join(log))
        assert match, "".join(log)
        client = openai.OpenAI(base_url=f"{match[1]}/v1", api_key="unused", max_retries=0, timeout=30)
        yield log, client, urls
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("fault", FAULTS)
def test_serve(fault: str, position: str, stream: bool, served) -> None:
    _process, client, urls = served
    node = f"{position[0]}-{fault}"
    cell = Cell(fault, node, urls[fault])
    messages = [{"role": "user", "content": f"a question [via {node}]"}]
    text, error, status = "", None, 200
    try:
        if stream:
            chunks = client.chat.completions.create(model="any", messages=messages, stream=True)
            for chunk in chunks:
                text += "".join(choice.delta.content or "" for choice in chunk.choices)
        else:
            text = client.chat.completions.create(model="any", messages=messages).choices[0].message.content
    except openai.APIStatusError as exc:
        status, error = exc.status_code, exc
    except openai.APIError as exc:  # an SSE error event after the first words
        error = exc
    seen = text + (json.dumps(error.body) if error is not None else "")
    assert not leaked(seen), seen[-2000:]
    if fault in WHOLE:
        assert error is None, error
        assert text.startswith("fine answer"), text[:200]
        if fault.startswith("echo") and position == "handler":
            assert "key=***" in text
        return
    assert error is not None, text[:200]
    expected = 504 if fault == "slow" else 502
    assert status == expected or (stream and status == 200), status  # 200: an SSE error event
    message = error.body["message"] if isinstance(error.body, dict) else str(error.message)
    check_message(message, cell)


def test_serve_log_names_no_key(served) -> None:
    log = "".join(served[0])
    assert not leaked(log), log[-2000:]
    assert "Traceback" not in log
