"""Signals to `llmnet run` and `llmnet serve` while a `shell` hook runs: the exit code is the documented one
and no process the hook started is left behind. Real processes throughout: the `llmnet` command, a fake
model server, and a hook program that starts a child and a grandchild which would write a file later."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmnet_testing import FakeOpenAIServer, hook_composition

LLMNET = str(Path(sys.executable).parent / "llmnet")
DEADLINE = 30.0  # seconds; a generous bound for things to happen, never a measure of speed
STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]

#: the hook: records its pid, forks a child that forks a grandchild (both record their pids, sleep, then
#: append to `late`), writes `started` once all three pids are on disk, and waits for its child
HOOK = """
    import os, sys, time
    folder = sys.argv[1]

    def record(name):
        with open(os.path.join(folder, name + ".tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.replace(os.path.join(folder, name + ".tmp"), os.path.join(folder, name + ".pid"))

    def later(name):
        record(name)
        time.sleep(8)
        with open(os.path.join(folder, "late"), "a") as f:
            f.write(name + "\\n")
        os._exit(0)

    record("hook")
    if os.fork() == 0:
        if os.fork() == 0:
            later("grandchild")
        later("child")
    while not all(os.path.exists(os.path.join(folder, n + ".pid")) for n in ("child", "grandchild")):
        time.sleep(0.01)
    open(os.path.join(folder, "started"), "w").close()
    os.wait()
"""

#: the expected exit code and the last line on stderr of `llmnet run` after each signal
RUN_EXITS = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (143, "stopped by SIGTERM"),
    signal.SIGHUP: (129, "stopped by SIGHUP"),
}
#: where the hook runs: a transform pre-hook the run waits for; an observe post-hook still running when
#: the answer is out (the run waits for it before exiting); an observe pre-hook while the model answers
PLACES = {
    "transform": ([{"function": "spawn", "mode": "transform"}], [], 0.0),
    "observe-at-exit": ([], [{"function": "spawn", "mode": "observe"}], 0.0),
    "observe-during-model-call": ([{"function": "spawn", "mode": "observe"}], [], 60.0),
}


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer("the answer").start()
    yield server
    server.stop()


def write_composition(folder: Path, model_url: str, pre: list[Any], post: list[Any]) -> Path:
    """A one-node composition whose hook function `spawn` runs HOOK with `folder` as its argument."""
    program = folder / "hook.py"
    program.write_text(textwrap.dedent(HOOK), encoding="utf-8")
    spawn = {"command": sys.executable, "args": [str(program), str(folder)], "timeout": 120}
    path = folder / "composition.json"
    path.write_text(json.dumps(hook_composition(model_url, {"spawn": spawn}, "shell", pre, post)))
    return path


def default_signals() -> None:
    """In the child before `llmnet` starts: the stop signals at their defaults, even when the tests run
    where they are ignored (`nohup`, a background job), since llmnet keeps an ignored signal ignored."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def wait_until_started(folder: Path, process: subprocess.Popen[str]) -> None:
    """Wait until the hook has started its child and grandchild (or fail with llmnet's output)."""
    deadline = time.monotonic() + DEADLINE
    while not (folder / "started").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            raise AssertionError(f"the hook did not start (llmnet exit {process.returncode}):\n{err}")
        time.sleep(0.01)


def hook_pids(folder: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in folder.glob("*.pid")}


def running(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def assert_nothing_left(folder: Path) -> None:
    """Every process the hook started ends (polled up to the deadline), and none wrote its file. Any
    still running at the deadline is killed, so that a failing test leaves nothing behind either."""
    pids = hook_pids(folder)
    assert set(pids) == {"hook", "child", "grandchild"}
    deadline = time.monotonic() + DEADLINE
    while any(running(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = {name: pid for name, pid in pids.items() if running(pid)}
    for pid in alive.values():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not alive, f"hook processes still running after llmnet ended: {alive}"
    assert not (folder / "late").exists(), "a hook process kept running and wrote its file"


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("place", list(PLACES))
def test_run_stopped_by_a_signal_ends_the_hooks_processes(tmp_path, model, place, sig):
    pre, post, model_delay = PLACES[place]
    model.delay = model_delay
    path = write_composition(tmp_path, model.url, pre, post)
    process = subprocess.Popen(
        [LLMNET, "run", str(path), "hello"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    wait_until_started(tmp_path, process)
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"llmnet run did not stop on {sig.name}:\n{err}") from None
    code, message = RUN_EXITS[sig]
    assert (process.returncode, err.strip()) == (code, message)
    assert_nothing_left(tmp_path)


# -- llmnet serve ----------------------------------------------------------------------------------------


def start_serve(path: Path, *args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """`llmnet serve PATH ARGS` on a free port: the process, its base URL and its stderr lines so far (a
    thread keeps collecting them)."""
    process = subprocess.Popen(
        [LLMNET, "serve", str(path), "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        if match := re.search(r"llmnet serve: (http://127\.0\.0\.1:\d+)/v1", line):
            threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True).start()
            return process, match.group(1), lines
    process.wait()
    raise AssertionError("llmnet serve did not start:\n" + "".join(lines))


def post_in_background(url: str) -> threading.Thread:
    """Send one chat request from a thread (its answer, or the lack of one, does not matter here)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{url}/v1/chat/completions", json=body, timeout=DEADLINE)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: s.name)
def test_serve_stopped_by_a_signal_ends_the_hooks_processes(tmp_path, model, sig):
    path = write_composition(tmp_path, model.url, [{"function": "spawn", "mode": "transform"}], [])
    process, url, lines = start_serve(path, "--graceful-timeout", "1")
    client = post_in_background(url)
    try:
        wait_until_started(tmp_path, process)
        process.send_signal(sig)  # a graceful stop: the request in flight gets --graceful-timeout
        code = process.wait(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
        client.join(DEADLINE)
    assert code == 0, "".join(lines)  # serve's documented exit status after a graceful stop
    assert "llmnet serve: stopped" in "".join(lines)
    assert_nothing_left(tmp_path)
