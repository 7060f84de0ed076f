"""How `llmnet run` writes its answer on standard output: masked, streamed piece by piece or whole.

Writing can fail for reasons that belong to whoever reads the output, never to the pipeline: the reader
closed the pipe (`llmnet run ... | head -c 10`) or the disk is full (`> /dev/full`). Every write goes
through `write`, which turns such a failure into `OutputClosed` (the run ends quietly, exit 141, as a
Unix tool ends) or `OutputError` (`error: cannot write the answer: No space left on device`, exit 1).
A streamed answer is written from inside the model's stream; the engine hands what the token callback
raises back to the caller unchanged, so that neither is reported as the backend's failure.
"""

from __future__ import annotations

import errno

import click

from .errors import LLMNetError
from .process import OutputClosed, discard_stdout
from .redact import Redactor, StreamRedactor

__all__ = ["AnswerStream", "OutputClosed", "OutputError", "write"]


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
