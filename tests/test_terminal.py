"""`llmnet run` in a terminal: the real command in a pseudo-terminal 80 columns wide, with a slow step whose
description is longer than a line. Its bytes are played on a small terminal model to check what a person
sees: the spinner never wraps (a wrapped line cannot be redrawn in place and would leave a line per
frame), nothing of it stays behind at the end or after Ctrl-C, and errors, warnings and the trace are
coloured unless NO_COLOR is set."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import install_plugin

from llmnet_core.output import paint_trace
from llmnet_core.progress import StderrReporter, fit

LLMNET = str(Path(sys.executable).parent / "llmnet")
DEADLINE = 120.0  # seconds; a bound for things to happen, never a measure of speed
WIDTH = 80
FRAMES = StderrReporter.FRAMES
SLOW_STEP = (
    "loading the model with a rather long name that cannot fit on one line of an eighty-column terminal, "
    "whatever the terminal"
)

#: a plugin whose backend announces a slow step, waits, then answers "done"
PLUGIN = """
import asyncio

from llmnet_core import Backend, ChatResponse, activity, hookimpl


class SlowBackend(Backend):
    async def complete(self, request):
        with activity(self.spec.options["step"]):
            await asyncio.sleep(float(self.spec.options["seconds"]))
        return ChatResponse(text="done")


@hookimpl
def llmnet_register_backends(register):
    register("slow-test", SlowBackend)
"""


class Screen:
    """What a terminal `width` columns wide shows after some output: the subset of VT100 llmnet writes
    (text, carriage return, line feed, erase to the end of the line, colours)."""

    TOKEN = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|.", re.S)

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[list[str]] = [[]]
        self.row = self.col = 0
        self.wrapped = False  #: a line ran past the right edge and went on on the next row

    def feed(self, text: str) -> Screen:
        for token in self.TOKEN.findall(text):
            if token == "\r":
                self.col = 0
            elif token == "\n":
                self._next_row()
            elif token.startswith("\x1b["):
                if token.endswith("K"):
                    del self.rows[self.row][self.col :]
            else:
                if self.col >= self.width:
                    self.wrapped = True
                    self._next_row()
                line = self.rows[self.row]
                line.extend(" " * (self.col - len(line) + 1))
                line[self.col] = token
                self.col += 1
        return self

    def _next_row(self) -> None:
        self.row += 1
        self.col = 0
        if self.row == len(self.rows):
            self.rows.append([])

    def lines(self) -> list[str]:
        text = ["".join(row).rstrip() for row in self.rows]
        while text and not text[-1]:
            text.pop()
        return text


def in_terminal(args: list[str], env: dict[str, str], *, interrupt: bool = False) -> tuple[int, str]:
    """Run `args` with stdin, stdout and stderr on a new pseudo-terminal WIDTH columns wide; with
    `interrupt`, send SIGINT (Ctrl-C) once a spinner frame is on the terminal. Returns the exit code and
    everything written."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, WIDTH, 0, 0))
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + DEADLINE
    sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not chunk:
                    break
                output += chunk
            if interrupt and not sent and any(f in output.decode("utf-8", "replace") for f in FRAMES):
                process.send_signal(signal.SIGINT)
                sent = True
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, output.decode("utf-8", "replace")


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a person's terminal, with the slow test plugin installed (an entry point on
    PYTHONPATH)."""
    site = install_plugin(
        tmp_path / "site", "slow-llmnet-test", {"slow_llmnet_test": PLUGIN}, {"slow": "slow_llmnet_test"}
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES", "FORCE_COLOR")}
    return {**env, "PYTHONPATH": str(site), "TERM": "xterm-256color"}


def slow_pipeline(tmp_path: Path, seconds: float) -> str:
    path = tmp_path / "slow.json"
    composition: dict[str, Any] = {
        "models": {"slow": {"backend": "slow-test", "step": SLOW_STEP, "seconds": seconds}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "slow", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path.write_text(json.dumps(composition), encoding="utf-8")
    return str(path)


def test_the_spinner_fits_the_line_and_is_gone_at_the_end(tmp_path, terminal_env):
    code, written = in_terminal([LLMNET, "run", slow_pipeline(tmp_path, 1.5), "hi"], terminal_env)
    assert code == 0, written
    assert any(frame in written for frame in FRAMES)  # the spinner ran
    screen = Screen(WIDTH).feed(written)
    assert not screen.wrapped, written
    mark, answer = screen.lines()  # no line left behind by the spinner's frames
    assert re.fullmatch(r"✓ loading the model with a rather long name .*… \(\d+\.\d s\)", mark), mark
    assert len(mark) < WIDTH and answer == "done"


def test_ctrl_c_leaves_no_spinner_behind(tmp_path, terminal_env):
    code, written = in_terminal(
        [LLMNET, "run", slow_pipeline(tmp_path, 60), "hi"], terminal_env, interrupt=True
    )
    assert code == 130, written
    screen = Screen(WIDTH).feed(written)
    assert not screen.wrapped, written
    lines = screen.lines()
    assert lines[-1] == "interrupted", lines
    assert len(lines) == 2 and lines[0].startswith("✗ loading the model"), lines
    assert not any(frame in "".join(lines) for frame in FRAMES)
    assert "Traceback" not in written


def _failing(tmp_path: Path) -> str:
    path = tmp_path / "down.json"
    composition = {
        "models": {"m": {"type": "external", "url": "http://127.0.0.1:9", "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
            {"name": "spare", "layer": 3, "model": "m"},
        ],
    }
    path.write_text(json.dumps(composition), encoding="utf-8")
    return str(path)


def test_errors_warnings_and_the_trace_in_colour(tmp_path, terminal_env):
    code, written = in_terminal([LLMNET, "run", _failing(tmp_path), "hi", "--trace"], terminal_env)
    assert code == 1, written
    assert "\x1b[33mwarning\x1b[0m architecture[2]" in written  # the unreachable node
    assert '\x1b[1;31merror:\x1b[0m node "chat": could not reach' in written
    assert "\x1b[1mhop  node" in written  # the trace's heading
    assert re.search(r"\x1b\[31mfailed: node \"chat\"", written)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", written)
    assert 'error: node "chat": could not reach' in plain and "warning architecture[2]" in plain


def test_no_color_turns_colours_off(tmp_path, terminal_env):
    env = {**terminal_env, "NO_COLOR": "1"}
    code, written = in_terminal([LLMNET, "run", _failing(tmp_path), "hi", "--trace"], env)
    assert code == 1
    assert "\x1b[" not in written and 'error: node "chat": could not reach' in written
    code, written = in_terminal([LLMNET, "run", slow_pipeline(tmp_path, 0.5), "hi"], env)
    assert code == 0 and "\x1b[3" not in written and written.rstrip().endswith("done")


def test_fit_counts_terminal_columns():
    assert fit("short", 10) == "short"
    assert fit("a" * 20, 10) == "a" * 9 + "…"
    assert fit("漢字" * 10, 9) == "漢字漢字…"  # wide characters take two columns
    assert fit("line\nbreaks  and   tabs\t", 40) == "line breaks and tabs"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_trace_colours_hooks_that_did_not_succeed(monkeypatch):
    table = "\n".join(
        [
            "hop  node  layer  chosen by  ms  tokens",
            "  1  chat  0      entry      12      3",
            "     ├ pre  audit (rest, observe)  ok  3 ms",
            "     └ post check (shell, transform)  failed  41 ms exit code 1",
            "total 0.05 s · 1 model call · 3 tokens",
        ]
    )
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys, "stderr", _Terminal())
    lines = paint_trace(table).split("\n")
    assert lines[0] == f"\x1b[1m{table.splitlines()[0]}\x1b[0m"
    assert lines[2] == table.splitlines()[2]  # a hook that succeeded stays plain
    assert lines[3].startswith("\x1b[33m") and lines[4].startswith("\x1b[2mtotal")
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint_trace(table) == table
