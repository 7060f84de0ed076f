"""llmnet's one dotenv dialect: `--env-file` loads a file into `os.environ`, and the `env-file` secret
source (llmnet-env) reads one as a secret block; both parse it here, so a file means the same to both.

A small parser of the common dotenv syntax, so that the core needs no dependency for it: comments,
`export NAME=value`, single quotes (taken literally), double quotes (with `\\n`, `\\t`, `\\"` and
`\\\\` escapes, and line breaks inside), unquoted values with a ` # comment` after them, and `${NAME}`
or `${NAME:-default}` expansion in unquoted and double-quoted values (the default when NAME is unset or
empty, as in bash). A bare `NAME` line sets nothing. Errors start with the caller's `where` (which names
the file) and give the line number, never the line's content, which may hold a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import NoReturn

from .errors import LLMNetError, UsageError

_ASSIGNMENT = re.compile(r"(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*")
_EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BARE_NAME = re.compile(r"(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*[ \t]*(?:#.*)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def load_env_file(
    path: str | os.PathLike[str],
    *,
    override: bool = True,
    environ: MutableMapping[str, str] | None = None,
    where: str | None = None,
) -> dict[str, str]:
    """Read a dotenv file and set its variables in `environ` (default `os.environ`); returns them.

    With `override` (the default, as the original llmnet CLI did) the file's values replace variables
    already set; without it, variables already set are kept. A missing file is a UsageError (exit 2);
    error messages start with `where` (default `env file PATH`).
    """
    target = os.environ if environ is None else environ
    values = parse_env_file(path, target, where=where)
    for name, value in values.items():
        if override or name not in target:
            target[name] = value
    return values


def parse_env_file(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    *,
    where: str | None = None,
    interpolate: bool = True,
    error: type[LLMNetError] = UsageError,
) -> dict[str, str]:
    """The variables a dotenv file defines, changing no environment. `${NAME}` is taken from the file's
    earlier lines, else from `environ` (default `os.environ`), unless `interpolate` is false. Problems
    raise `error`, its message starting with `where` (default `env file PATH`) and naming the line."""
    where = where or f"env file {path}"
    text = _read(Path(path).expanduser(), where, error)
    return _Parser(text, where, os.environ if environ is None else environ, interpolate, error).parse()


def _read(file: Path, where: str, error: type[LLMNetError]) -> str:
    """The file's text, without a UTF-8 byte-order mark; a file that cannot be read is an `error`."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{where}: no such file", hint="check the path of the env file") from None
    except IsADirectoryError:
        raise error(f"{where}: is a folder, not an env file") from None
    except UnicodeDecodeError:
        raise error(f"{where}: is not UTF-8 text", hint="save it as UTF-8") from None
    except OSError as exc:
        raise error(f"{where}: cannot be read ({exc.strerror or exc})") from None


class _Parser:
    """Walks the text once; `pos` is an index into it."""

    def __init__(
        self,
        text: str,
        where: str,
        environ: Mapping[str, str],
        interpolate: bool,
        error: type[LLMNetError],
    ) -> None:
        self.text = text.replace("\r\n", "\n")
        self.where = where
        self.environ = environ
        self.interpolate = interpolate
        self.error = error
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

        return _EXPANSION.sub(replace, value) if self.interpolate and "${" in value else value

    def _skip_blanks(self) -> None:
        while self.text[self.pos] in " \t\n":
            self.pos += 1

    def _fail(self, reason: str) -> NoReturn:
        line = self.text.count("\n", 0, self.pos) + 1
        raise self.error(
            f"{self.where}, line {line}: {reason}",
            hint="write one NAME=value per line; quote values that hold spaces, # or line breaks",
        )


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end == -1 else end
