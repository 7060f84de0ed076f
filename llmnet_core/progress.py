"""Slow work the user should hear about (loading a model), reported to listeners such as the CLI's spinner.

Plugins wrap slow steps in `activity("loading model …")`; the CLI shows it on stderr, never on stdout.
Listeners may be called from worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

log = logging.getLogger("llmnet.progress")

#: called with ("start" | "end" | "fail", text, seconds since start)
Listener = Callable[[str, str, float], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(listener: Listener) -> Callable[[], None]:
    """Receive activity events until the returned function is called."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def _emit(event: str, text: str, seconds: float) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        with contextlib.suppress(Exception):
            listener(event, text, seconds)


@contextlib.contextmanager
def activity(text: str) -> Iterator[None]:
    """Announce a slow step (e.g. "loading model gemma-3-270m") for as long as the block runs."""
    log.info("%s …", text)
    started = time.perf_counter()
    _emit("start", text, 0.0)
    try:
        yield
    except BaseException:
        _emit("fail", text, time.perf_counter() - started)
        raise
    _emit("end", text, time.perf_counter() - started)


class StderrReporter:
    """Shows activities on a stream: a spinner line on a terminal, one line per activity otherwise."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if self.tty:
            self.stream = _private_copy(self.stream)
        self._active: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, event: str, text: str, seconds: float) -> None:
        with self._lock:
            if event == "start":
                self._active.append(text)
                if not self.tty:
                    self._write(f"{text} …\n")
                elif self._thread is None:
                    self._thread = threading.Thread(target=self._spin, daemon=True)
                    self._thread.start()
                return
            if text in self._active:
                self._active.remove(text)
            if self.tty:
                mark = "✓" if event == "end" else "✗"
                self._write(f"\r\033[K{mark} {text} ({seconds:.1f} s)\n")
            elif event == "fail":
                self._write(f"{text}: failed after {seconds:.1f} s\n")
        self._wake.set()

    def _spin(self) -> None:
        frame = 0
        while True:
            self._wake.wait(0.1)
            self._wake.clear()
            with self._lock:
                if not self._active:
                    self._thread = None
                    return
                line = " · ".join(self._active)
                self._write(f"\r\033[K{self.FRAMES[frame % len(self.FRAMES)]} {line} …")
            frame += 1

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()


def _private_copy(stream: TextIO) -> TextIO:
    """The same terminal through a file descriptor of our own: native libraries that briefly point fd 2
    at /dev/null while they load (llama.cpp does) cannot swallow the spinner."""
    try:
        fd = os.dup(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return stream
    return os.fdopen(fd, "w", encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace")
