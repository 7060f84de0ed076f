"""How `llmnet run` writes its answer on standard output: masked, streamed piece by piece or whole; and
the colours of what llmnet says to people on stderr (errors, warnings, the trace), where the terminal
shows colours and `NO_COLOR` is not set.

Writing can fail for reasons that belong to whoever reads the output, never to the pipeline: the reader
closed the pipe (`llmnet run ... | head -c 10`) or the disk is full (`> /dev/full`). Every write goes
through `write`, which turns such a failure into `OutputClosed` (the run ends quietly, exit 141, as a
Unix tool ends) or `OutputError` (`error: cannot write the answer: No space left on device`, exit 1).
A streamed answer is written from inside the model's stream; the engine hands what the token callback
raises back to the caller unchanged, so that neither is reported as the backend's failure.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from typing import TextIO

import click

from .errors import LLMNetError
from .process import OutputClosed, discard_stdout
from .redact import Redactor, StreamRedactor

__all__ = [
    "AnswerStream",
    "LogHandler",
    "OutputClosed",
    "OutputError",
    "colour_on",
    "paint",
    "paint_trace",
    "write",
]


class OutputError(LLMNetError):
    """Standard output cannot be written (a full disk, an I/O error)."""


#: characters written at a time: at most 4 KiB in UTF-8 (a pipe's block size), which Python's buffered
#: writer holds until the flush writes all of it or fails; a larger write that a pipe takes only in part
#: loses the rest without an error, so a reader that went away would go unnoticed
CHUNK = 1024


def write(text: str = "", *, nl: bool = True) -> None:
    """Write `text` on standard output and flush it; a failure is OutputClosed or OutputError."""
    if nl:
        text += "\n"
    try:
        for start in range(0, len(text), CHUNK):
            click.echo(text[start : start + CHUNK], nl=False)
    except OSError as exc:
        discard_stdout()  # what is still buffered would fail again when Python flushes it at exit
        if exc.errno == errno.EPIPE:
            raise OutputClosed from None
        raise OutputError(f"cannot write the answer: {exc.strerror or exc}") from None


class AnswerStream:
    """The token callback of a streamed run: each piece is masked (a secret split across pieces too) and
    written at once; `finish` writes what the masking kept back."""

    def __init__(self, redactor: Redactor) -> None:
        self._masker = StreamRedactor(redactor)
        #: whether any answer text arrived (then the answer is on stdout, or on its way)
        self.started = False
        self._ends_line = False

    def __call__(self, piece: str) -> None:
        self.started = True
        self._write(self._masker.feed(piece))

    def finish(self, *, complete: bool) -> None:
        """Write the text kept back; a complete answer also ends its line."""
        self._write(self._masker.flush())
        if complete and not self._ends_line:
            write()

    def _write(self, text: str) -> None:
        if text:
            write(text, nl=False)
            self._ends_line = text.endswith("\n")


# -- colours on stderr --------------------------------------------------------------------------------

#: SGR codes of the few styles llmnet uses
STYLES = {"error": "1;31", "warning": "33", "failed": "31", "dim": "2", "bold": "1"}


def colour_on(stream: TextIO | None = None) -> bool:
    """Whether to colour what is written on `stream` (stderr by default): a terminal, `NO_COLOR` unset
    or empty (https://no-color.org), and a terminal that is not `TERM=dumb`."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def paint(text: str, style: str, stream: TextIO | None = None) -> str:
    """`text` in `style` (a key of STYLES) when `stream` takes colours, else as it is."""
    return f"\033[{STYLES[style]}m{text}\033[0m" if colour_on(stream) else text


def paint_trace(table: str) -> str:
    """`llmnet run --trace`'s table with its heading in bold, hooks that did not succeed and the failure
    in red, and the totals dimmed (as it is where stderr takes no colours)."""
    if not colour_on():
        return table
    lines = table.split("\n")
    out = [paint(lines[0], "bold")]
    for line in lines[1:]:
        if line.startswith("total "):
            line = paint(line, "dim")
        elif line.startswith("failed: "):
            line = paint(line, "failed")
        elif line.lstrip().startswith(("├ ", "└ ")) and not _hook_ok(line):
            line = paint(line, "warning")
        out.append(line)
    return "\n".join(out)


def _hook_ok(line: str) -> bool:
    return ")  ok  " in line


class LogHandler(logging.Handler):
    """Log records on the current `sys.stderr`: `warning: message` (coloured where stderr takes colours),
    or `logger: message` for --debug. The stream is looked up at each record, so a stream swapped later
    (a test's capture, llmnet's own copy of fd 2) gets the lines."""

    def __init__(self, level: int, *, debug: bool = False) -> None:
        super().__init__(level)
        self.debug = debug

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.debug:
                text = _DEBUG_FORMAT.format(record)
            else:
                style = "error" if record.levelno >= logging.ERROR else "warning"
                text = f"{paint(record.levelname.lower() + ':', style)} {record.getMessage()}"
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


_DEBUG_FORMAT = logging.Formatter("%(name)s: %(message)s")
