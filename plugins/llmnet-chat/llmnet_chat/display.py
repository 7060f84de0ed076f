"""What a chat shows: the answer on stdout (streamed, secrets masked), and on stderr, dim where the
terminal shows colours, one line saying which node answered and why (`→ billing · semantic 0.81`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from llmnet_core import Redactor, StreamRedactor

DIM = "\x1b[2m"
RESET = "\x1b[0m"
#: hop roles that do not answer
NOT_ANSWERING = ("router", "output")


def colour_on(stream: TextIO) -> bool:
    """Whether to colour what goes to `stream`: a terminal, and `NO_COLOR` not set."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def note(text: str, stream: TextIO | None = None) -> None:
    """A line for people on stderr: dim on a terminal, plain otherwise."""
    stream = stream or sys.stderr
    stream.write(f"{DIM}{text}{RESET}\n" if colour_on(stream) else f"{text}\n")
    stream.flush()


class OutputFailed(Exception):
    """Standard output cannot take the answer (a closed pipe, a full disk); the OSError is its cause."""


class AnswerPrinter:
    """The token callback of one answer: each piece masked (a secret split across pieces too) and
    written at once; `finish` writes what the masking kept back and ends the line."""

    def __init__(self, redactor: Redactor, stream: TextIO | None = None) -> None:
        self._masker = StreamRedactor(redactor)
        self._redactor = redactor
        self._stream = stream or sys.stdout
        self.started = False
        self._ends_line = True
        #: called once before the first write (to clear a spinner on the same terminal)
        self.before_write: Callable[[], None] | None = None

    def __call__(self, piece: str) -> None:
        self.started = True
        self._write(self._masker.feed(piece))

    def whole(self, text: str) -> None:
        """Write an answer that arrived at once (not streamed)."""
        self._write(self._redactor(text))

    def finish(self) -> None:
        """Write what was kept back and end the answer's line."""
        self._write(self._masker.flush())
        if not self._ends_line:
            self._write("\n")

    def _write(self, text: str) -> None:
        if text:
            if self.before_write is not None:
                self.before_write, clear = None, self.before_write
                clear()
            try:
                self._stream.write(text)
                self._stream.flush()
            except OSError as exc:  # told apart from the pipeline's own failures
                _discard(self._stream)
                raise OutputFailed from exc
            self._ends_line = text.endswith("\n")


def _discard(stream: TextIO) -> None:
    """Point `stream`'s file descriptor at os.devnull: what is still buffered for a reader that is gone
    (or a full disk) is dropped, instead of failing again when Python flushes it at exit."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def route_line(trace: Mapping[str, Any]) -> str:
    """`→ billing · semantic 0.81 · 1.4 s · 187 tokens`, from a trace as `Trace.to_dict` gives it: the
    nodes that worked on the answer, why the first was chosen, time and tokens."""
    hops: Sequence[Mapping[str, Any]] = trace.get("hops") or []
    workers = [hop for hop in hops if hop.get("role") not in NOT_ANSWERING]
    parts = ["→ " + (" → ".join(str(hop["node"]) for hop in workers) if workers else "no node answered")]
    reason = _why(workers[0] if workers else None)
    if reason:
        parts.append(reason)
    parts.append(_duration(float(trace.get("total_ms") or 0)))
    tokens = (trace.get("usage") or {}).get("total_tokens") or 0
    if tokens:
        parts.append(f"{tokens} tokens")
    return " · ".join(parts)


def _why(hop: Mapping[str, Any] | None) -> str | None:
    """How `hop`'s node was chosen: `semantic 0.81`, `llm`, `condition`, `only target`, `entry`."""
    if hop is None:
        return None
    decision = hop.get("decision") or {}
    strategy = decision.get("strategy")
    if not strategy:
        return str(hop.get("chosen_by") or "") or None
    score = (decision.get("scores") or {}).get(hop.get("node"))
    return f"{strategy} {score:.2f}" if isinstance(score, int | float) else str(strategy)


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
