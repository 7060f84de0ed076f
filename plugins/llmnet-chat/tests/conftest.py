"""Shared parts of the llmnet-chat tests: `llmnet chat` for real (a subprocess with piped input, or on a
pseudo-terminal driven as a person would), a fake model that answers from the conversation it is sent,
and compositions around it."""

from __future__ import annotations

import contextlib
import fcntl
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

LLMNET = Path(sys.executable).with_name("llmnet")
DEADLINE = 60.0  # seconds: a bound for something to happen, never a measure of speed
#: a long answer, streamed slowly (see `slow_model`): there is time to press Ctrl-C in the middle
STORY = " ".join(f"word{i}" for i in range(300))


def remembering(request: Mapping[str, Any]) -> str:
    """A model that answers from the conversation it receives: it remembers a name it was told."""
    messages = request["messages"]
    last = messages[-1]["content"]
    if last.lower().startswith("my name is "):
        return "Nice to meet you."
    if last.lower() == "what is my name?":
        for message in messages[:-1]:
            match = re.match(r"my name is (\w+)", message["content"], re.IGNORECASE)
            if message["role"] == "user" and match:
                return f"Your name is {match.group(1)}."
        return "I do not know your name."
    if "story" in last:
        return STORY
    return f"You said: {last}"


@pytest.fixture
def chat_env(tmp_path: Path) -> dict[str, str]:
    """The environment for `llmnet chat`: the request log in the test's folder, a known terminal type."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMNET_") and k != "NO_COLOR"}
    return env | {"LLMNET_LOGS_PATH": str(tmp_path / "logs.db"), "TERM": "xterm"}


@pytest.fixture
def chat(chat_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`llmnet chat ARGS` with `input` piped to it; never a traceback."""

    def run(*args: Any, input: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(LLMNET), "chat", *map(str, args)],
            input=input,
            capture_output=True,
            text=True,
            env=chat_env,
            timeout=DEADLINE * 2,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture
def model(fake_server) -> Any:
    """The remembering model, answering at once."""
    return fake_server(remembering)


@pytest.fixture
def story() -> str:
    """The long answer the model streams when asked for a story."""
    return STORY


@pytest.fixture
def slow_model(fake_server) -> Any:
    """The remembering model, streaming its answers slowly (a pause between chunks)."""
    return fake_server(remembering, chunk_delay=0.2)


class Terminal:
    """`args` run with a pseudo-terminal as its controlling terminal, so that Ctrl-C is SIGINT and Ctrl-D
    the end of input, as in a real one. `screen` is everything the program wrote (escape sequences
    included); `send` types keys."""

    def __init__(
        self, args: Sequence[str], env: Mapping[str, str], *, rows: int = 40, cols: int = 200
    ) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child becomes the program at once
            try:
                os.execve(args[0], list(args), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = ""
        self.status: int | None = None

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait_for(self, text: str, *, after: int = 0) -> int:
        """Read until `text` appears on the screen past index `after`; returns the index just after it."""
        end = time.monotonic() + DEADLINE
        while (found := self.screen.find(text, after)) < 0:
            if not self._read(end - time.monotonic()):
                raise AssertionError(f"{text!r} did not appear; the screen:\n{self.screen}")
        return found + len(text)

    def _read(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the program ended: its terminal is gone
            return False
        self.screen += data.decode(errors="replace")
        return bool(data)

    def exit_status(self) -> int:
        """Wait for the program to end (reading what it still writes); its exit code."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            self._read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
        raise AssertionError(f"the program did not end; the screen:\n{self.screen}")

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


@pytest.fixture
def terminal(chat_env: dict[str, str]) -> Iterator[Callable[..., Terminal]]:
    """Start `llmnet ARGS` on a pseudo-terminal; every one started is ended after the test."""
    started: list[Terminal] = []

    def start(*args: Any) -> Terminal:
        started.append(Terminal([str(LLMNET), *map(str, args)], chat_env))
        return started[-1]

    yield start
    for term in started:
        term.close()
