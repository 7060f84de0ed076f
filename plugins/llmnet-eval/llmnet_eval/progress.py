"""A progress bar on stderr for long runs: drawn only on a terminal, and only once a run has lasted a
moment; on a pipe or in a file it writes nothing."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO

WIDTH = 24


class ProgressBar:
    """`label  [#######.................]  31/100 · 2 errors · 12 s`, redrawn at most 10 times a second."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, *, delay: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)()) and total > 0
        self.total = total
        self.label = label
        self.done = 0
        self.errors = 0
        self._started = time.monotonic()
        self._delay = delay
        self._drawn_at = 0.0
        self._shown = False

    def advance(self, failed: bool = False) -> None:
        """One more request done."""
        self.done += 1
        self.errors += int(failed)
        now = time.monotonic()
        due = now - self._drawn_at >= 0.1 or self.done == self.total
        if self.enabled and now - self._started >= self._delay and due:
            self._drawn_at = now
            self._write(f"\r\033[K{self.line(now)}")
            self._shown = True

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else time.monotonic()) - self._started
        filled = WIDTH * self.done // self.total
        bar = "#" * filled + "." * (WIDTH - filled)
        errors = f" · {self.errors} error{'s' if self.errors != 1 else ''}" if self.errors else ""
        return f"{self.label}  [{bar}]  {self.done}/{self.total}{errors} · {elapsed:.0f} s"

    def close(self) -> None:
        """Erase the bar (the report follows on stdout)."""
        if self._shown:
            self._write("\r\033[K")
            self._shown = False

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()


@contextlib.contextmanager
def status(text: str, stream: TextIO | None = None) -> Iterator[None]:
    """`text …` on a terminal's stderr while the block runs, erased after it; nothing elsewhere."""
    out = stream if stream is not None else sys.stderr
    shown = bool(getattr(out, "isatty", lambda: False)())
    if shown:
        with contextlib.suppress(OSError, ValueError):
            out.write(f"\r\033[K{text} …")
            out.flush()
    try:
        yield
    finally:
        if shown:
            with contextlib.suppress(OSError, ValueError):
                out.write("\r\033[K")
                out.flush()
