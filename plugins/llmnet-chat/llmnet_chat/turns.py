"""Reading a chat's turns: from a terminal (a prompt, line editing with readline, Ctrl-C drops the line
being typed, Ctrl-D leaves) or from a pipe (each line a turn, no prompt).

A turn may span several lines, in both cases: a line ending in a backslash continues on the next one,
and a line that is just `\"\"\"` opens a block that the next such line closes (for pasted text).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TextIO

PROMPT = "> "
CONTINUED = "... "
BLOCK = '"""'


class TurnReader:
    """Reads one turn at a time; `read()` returns its text, or None once the input has ended."""

    def __init__(self, stream: TextIO, *, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        if interactive:
            _enable_line_editing()

    def read(self) -> str | None:
        """The next turn's text (blank turns are skipped), None at the end of the input (Ctrl-D)."""
        lines: list[str] = []
        in_block = False
        while True:
            try:
                line = self._line(CONTINUED if lines or in_block else PROMPT)
            except KeyboardInterrupt:
                if not self.interactive:
                    raise
                sys.stderr.write("\n")  # Ctrl-C at the prompt: forget what was typed, ask again
                lines, in_block = [], False
                continue
            if line is None:  # end of input: a turn left open is still sent
                return "\n".join(lines) if any(s.strip() for s in lines) else None
            if line.strip() == BLOCK:
                if in_block:
                    text = "\n".join(lines)
                    if text.strip():
                        return text
                    lines = []
                in_block = not in_block
            elif in_block:
                lines.append(line)
            elif line.endswith("\\"):
                lines.append(line[:-1])
            else:
                lines.append(line)
                text = "\n".join(lines)
                if text.strip():
                    return text
                lines = []

    def _line(self, prompt: str) -> str | None:
        """One line without its end, None at the end of the input."""
        if self.interactive:
            try:
                return _with_console_stdout(lambda: input(prompt))
            except EOFError:
                sys.stderr.write("\n")
                return None
        line = self.stream.readline()
        if not line:
            return None
        return line.rstrip("\r\n")


def _with_console_stdout(read: Callable[[], str]) -> str:
    """Run `read` (which calls `input`) with `sys.stdout` set to the process's own standard output:
    `input` edits the line with readline only when sys.stdout is file descriptor 1, and llmnet writes
    through a private copy of it."""
    own = sys.stdout
    console = sys.__stdout__
    if console is None or console is own:
        return read()
    own.flush()
    sys.stdout = console
    try:
        return read()
    finally:
        console.flush()
        sys.stdout = own


def _enable_line_editing() -> None:
    """Load readline where the platform has it: arrows, history of this session, Ctrl-A/E."""
    with contextlib.suppress(ImportError):  # Windows without pyreadline: plain input() still works
        import readline  # noqa: F401 - importing it is what turns line editing on for input()


def is_command(text: str) -> bool:
    """Whether a turn is a chat command (`/trace`): one word that starts with a single slash."""
    word = text.strip()
    return word.startswith("/") and not word.startswith("//") and len(word.split()) == 1


def as_message(text: str) -> str:
    """The text a turn sends: `//word` sends `/word` (a message that starts with a slash)."""
    stripped = text.lstrip()
    return stripped[1:] if stripped.startswith("//") else text
