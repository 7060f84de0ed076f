"""Slow work the user should hear about (loading a model), reported to listeners such as the CLI's spinner.

Plugins wrap slow steps in `activity("loading model …")`; the CLI shows it on stderr, never on stdout.
Listeners may be called from worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import TextIO

log = logging.getLogger("llmnet.progress")

#: called with ("start" | "end" | "fail", text, seconds since start)
Listener = Callable[[str, str, float], None]
_listeners: list[Listener] = []
#: the activities under way: their text and when each started
_running: list[tuple[str, float]] = []
_lock = threading.Lock()


def add_listener(listener: Listener, *, replay: bool = False) -> Callable[[], None]:
    """Receive activity events until the returned function is called; with `replay`, first a "start"
    for each activity already under way (a model loading in the background)."""
    with _lock:
        _listeners.append(listener)
        running = list(_running) if replay else []
    now = time.perf_counter()
    for text, started in running:
        with contextlib.suppress(Exception):
            listener("start", text, now - started)

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
def show_activity(stream: TextIO | None = None, *, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Show the activities under way and announced while the block runs on `stream` (stderr): a spinner
    line on a terminal, one line each otherwise; nothing when not `enabled`. Yields a function that stops
    showing them (and clears the spinner's line) before the block ends: call it before writing to the
    same terminal."""
    if not enabled:
        yield lambda: None
        return
    reporter = StderrReporter(stream)
    remove = add_listener(reporter, replay=True)

    def stop() -> None:
        remove()
        reporter.close()

    try:
        yield stop
    finally:
        stop()


@contextlib.contextmanager
def activity(text: str) -> Iterator[None]:
    """Announce a slow step (e.g. "loading model gemma-3-270m") for as long as the block runs."""
    log.info("%s …", text)
    started = time.perf_counter()
    entry = (text, started)
    with _lock:
        _running.append(entry)
    _emit("start", text, 0.0)
    try:
        yield
    except BaseException:
        _finished(entry)
        _emit("fail", text, time.perf_counter() - started)
        raise
    _finished(entry)
    _emit("end", text, time.perf_counter() - started)


def _finished(entry: tuple[str, float]) -> None:
    with _lock:
        if entry in _running:
            _running.remove(entry)


class StderrReporter:
    """Shows activities on a stream: a spinner line on a terminal, one line per activity otherwise.

    The spinner's line is cut to the terminal's width (a line that wrapped could not be redrawn in place,
    and each frame would leave a line behind); `close` clears it, so nothing stays behind when llmnet
    ends, finished or interrupted.
    """

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if self.tty:
            self.stream = _private_copy(self.stream)
        self._own_stream = self.stream is not (stream or sys.stderr)
        self._active: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False  # a spinner frame is on the terminal's current line
        self._closed = False

    def __call__(self, event: str, text: str, seconds: float) -> None:
        with self._lock:
            if self._closed:
                return
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
                after = f" ({seconds:.1f} s)"
                self._write(f"{CLEAR}{mark} {fit(text, self._width() - 2 - len(after))}{after}\n")
                self._drawn = False
            elif event == "fail":
                self._write(f"{text}: failed after {seconds:.1f} s\n")
        self._wake.set()

    def close(self) -> None:
        """Stop the spinner and clear its line; later events are ignored."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._active.clear()
            if self._drawn:
                self._write(CLEAR)
                self._drawn = False
            if self._own_stream:
                with contextlib.suppress(OSError):
                    self.stream.close()
        self._wake.set()

    def _spin(self) -> None:
        frame = 0
        while True:
            self._wake.wait(0.1)
            self._wake.clear()
            with self._lock:
                if not self._active or self._closed:
                    self._thread = None
                    return
                line = fit(" · ".join(self._active) + " …", self._width() - 2)
                self._write(f"{CLEAR}{self.FRAMES[frame % len(self.FRAMES)]} {line}")
                self._drawn = True
            frame += 1

    def _width(self) -> int:
        """Columns the spinner may fill: the terminal's width less one, so the cursor never wraps."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = shutil.get_terminal_size().columns
        return max(columns - 1, 10)

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()


#: back to the start of the line, and erase it
CLEAR = "\r\033[K"


def fit(text: str, cells: int) -> str:
    """`text` on one line, cut with "…" to at most `cells` terminal columns (wide characters count 2)."""
    text = " ".join(text.split())
    if cells <= 0:
        return ""
    if _cells(text) <= cells:
        return text
    out, used = [], 1  # room for the "…"
    for char in text:
        width = _cells(char)
        if used + width > cells:
            break
        out.append(char)
        used += width
    return "".join(out) + "…"


def _cells(text: str) -> int:
    """The columns `text` takes on a terminal: East Asian wide characters 2, combining marks 0."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def _private_copy(stream: TextIO) -> TextIO:
    """The same terminal through a file descriptor of our own: native libraries that briefly point fd 2
    at /dev/null while they load (llama.cpp does) cannot swallow the spinner."""
    try:
        fd = os.dup(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return stream
    return os.fdopen(fd, "w", encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace")
