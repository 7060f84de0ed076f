"""`--env-file`: a dotenv file loaded into `os.environ` before a command reads anything else.

A small parser of the common dotenv syntax, so that the core needs no dependency for it: comments,
`export NAME=value`, single quotes (taken literally), double quotes (with `\\n`, `\\t`, `\\"` and
`\\\\` escapes, and line breaks inside), unquoted values with a ` # comment` after them, and `${NAME}`
or `${NAME:-default}` expansion in unquoted and double-quoted values. A bare `NAME` line sets nothing.
Errors name the file and the line, never the line's content, which may hold a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import NoReturn

from .errors import UsageError

_ASSIGNMENT = re.compile(r"(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*")
_EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BARE_NAME = re.compile(r"(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*[ \t]*(?:#.*)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def load_env_file(
    path: str | os.PathLike[str],
    *,
    override: bool = True,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Read a dotenv file and set its variables in `environ` (default `os.environ`); returns them.

    With `override` (the default, as the original llmnet CLI did) the file's values replace variables
    already set; without it, variables already set are kept. A missing file is a UsageError (exit 2).
    """
    target = os.environ if environ is None else environ
    values = parse_env_file(path, target)
    for name, value in values.items():
        if override or name not in target:
            target[name] = value
    return values


def parse_env_file(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a dotenv file defines; `${NAME}` is taken from the file's earlier lines, else
    from `environ`."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"--env-file {path}: no such file", hint="check the path of the env file") from None
    except IsADirectoryError:
        raise UsageError(f"--env-file {path}: is a folder, not an env file") from None
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {path}: is not UTF-8 text", hint="save it as UTF-8") from None
    except OSError as exc:
        raise UsageError(f"--env-file {path}: cannot be read ({exc.strerror or exc})") from None
    return _Parser(text, str(path), os.environ if environ is None else environ).parse()


class _Parser:
    """Walks the text once; `pos` is an index into it."""

    def __init__(self, text: str, source: str, environ: Mapping[str, str]) -> None:
        self.text = text.replace("\r\n", "\n")
        self.source = source
        self.environ = environ
        self.pos = 0
        self.values: dict[str, str] = {}

    def parse(self) -> dict[str, str]:
        text = self.text
        while self.pos < len(text):
            line_end = _line_end(text, self.pos)
            stripped = text[self.pos : line_end].strip()
            if not stripped or stripped.startswith("#") or _BARE_NAME.fullmatch(stripped):
                self.pos = line_end + 1
                continue
            self._skip_blanks()
            match = _ASSIGNMENT.match(text, self.pos)
            if match is None:
                self._fail("expected NAME=value")
            self.pos = match.end()
            self.values[match.group(1)] = self._value()
        return self.values

    def _value(self) -> str:
        text = self.text
        quote = text[self.pos : self.pos + 1]
        if quote in ("'", '"'):
            start = self.pos
            value = self._quoted(quote)
            rest = text[self.pos : _line_end(text, self.pos)]
            if rest.strip() and not rest.strip().startswith("#"):
                self.pos = start
                self._fail("unexpected text after the closing quote")
            self.pos = _line_end(text, self.pos) + 1
            return value
        line_end = _line_end(text, self.pos)
        raw = text[self.pos : line_end]
        comment = re.search(r"[ \t]#", raw)
        raw = (raw[: comment.start()] if comment else raw).strip()
        self.pos = line_end + 1
        return self._expand(raw)

    def _quoted(self, quote: str) -> str:
        text, start = self.text, self.pos
        self.pos += 1
        parts: list[str] = []
        while self.pos < len(text):
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                value = "".join(parts)
                return value if quote == "'" else self._expand(value)
            if char == "\\" and quote == '"' and self.pos + 1 < len(text):
                following = text[self.pos + 1]
                parts.append(_ESCAPES.get(following, "\\" + following))
                self.pos += 2
                continue
            parts.append(char)
            self.pos += 1
        self.pos = start
        self._fail(f"the {'single' if quote == chr(39) else 'double'} quote is never closed")

    def _expand(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = self.values.get(name, self.environ.get(name))
            return found if found else (default or "")

        return _EXPANSION.sub(replace, value) if "${" in value else value

    def _skip_blanks(self) -> None:
        while self.text[self.pos] in " \t\n":
            self.pos += 1

    def _fail(self, reason: str) -> NoReturn:
        line = self.text.count("\n", 0, self.pos) + 1
        raise UsageError(
            f"--env-file {self.source}, line {line}: {reason}",
            hint="write one NAME=value per line; quote values that hold spaces, # or line breaks",
        )


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end == -1 else end
