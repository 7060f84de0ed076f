"""Fixtures for the shell transport's tests: small real Python programs, run with `sys.executable`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def program(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """`program(code, *args, **fields)` writes `code` to a script and returns the fields of a shell
    function that runs it with this interpreter (`args` follow the script's path)."""
    counter = itertools.count()

    def make(code: str, *args: str, **fields: Any) -> dict[str, Any]:
        path = tmp_path / f"program_{next(counter)}.py"
        path.write_text(textwrap.dedent(code), encoding="utf-8")
        return {"command": sys.executable, "args": [str(path), *args], **fields}

    return make


def _dead(pid: int) -> bool:
    """True when `pid` no longer runs (gone, or a zombie waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


@pytest.fixture
def stopped() -> Iterator[Callable[[int], bool]]:
    """`stopped(pid)`: waits (at most 10 s) for a process started by a test to end; True if it did.

    Processes still running when the test ends are killed by their id."""
    watched: list[int] = []

    def wait(pid: int) -> bool:
        watched.append(pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _dead(pid):
                return True
            time.sleep(0.02)
        return False

    yield wait
    for pid in watched:
        if not _dead(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def wait_for_file() -> Callable[[Path], Awaitable[str]]:
    """`await wait_for_file(path)`: the file's text once it exists and is not empty (at most 20 s)."""

    async def wait(path: Path) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if path.exists() and (text := path.read_text()):
                return text
            await asyncio.sleep(0.01)
        raise AssertionError(f"{path} did not appear within 20 s")

    return wait
