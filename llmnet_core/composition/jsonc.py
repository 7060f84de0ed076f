"""JSON with `//` and `/* */` comments and trailing commas, parsed so errors keep their line and column."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..errors import Problem

#: nesting deeper than this is refused before parsing (a composition needs a handful of levels; Python's
#: parser would fail with a RecursionError somewhere near a thousand)
MAX_DEPTH = 100
#: digits a number may have: far beyond any count, size or seed (a 64-bit number has 20), and below the
#: 4,300 digits past which Python refuses to turn text into an integer
MAX_DIGITS = 1000
#: what `_check_limits` looks at: a string (to the end of its line when it never ends), a bracket, a
#: run of digits too long to be a number anyone means
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[\[{\]}]|[0-9]{' + str(MAX_DIGITS + 1) + ",}")
#: a `\uXXXX` escape of a surrogate (half of a UTF-16 pair: a character only with its other half)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


class JSONCError(ValueError):
    """A syntax error, or a limit passed, with the 1-based line and column in the original text."""

    def __init__(
        self, message: str, line: int, column: int, hint: str | None = "the file is not valid JSON"
    ) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.reason = message
        self.line = line
        self.column = column
        self.hint = hint


def strip_comments(text: str) -> str:
    """Blank out comments and trailing commas with spaces, keeping every offset (and newline) in place."""
    out = list(text)
    i, last = 0, -1  # `last`: index of the last non-space character outside comments
    while i < len(text):
        ch = text[i]
        if text.startswith(("//", "/*"), i):
            i = _blank_comment(text, out, i)
            continue
        if ch == '"':
            i = _closing_quote(text, i)
        elif ch in "}]" and last >= 0 and out[last] == ",":
            out[last] = " "
        if not ch.isspace():
            last = i
        i += 1
    return "".join(out)


def _closing_quote(text: str, start: int) -> int:
    """Index of the quote ending the string opened at `start`; len(text) or more when it never ends."""
    i = start + 1
    while i < len(text) and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i


def _blank_comment(text: str, out: list[str], start: int) -> int:
    """Blank the comment starting at `start` in `out`, newlines kept; returns the index just past it."""
    if text.startswith("//", start):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
    else:
        close = text.find("*/", start + 2)
        if close < 0:
            line = text.count("\n", 0, start) + 1
            raise JSONCError("unterminated /* comment", line, start - text.rfind("\n", 0, start))
        end = close + 2
    for j in range(start, end):
        if text[j] != "\n":
            out[j] = " "
    return end


def loads(text: str) -> tuple[Any, list[Problem]]:
    """Parse JSONC text; returns the value and warnings (duplicate keys, at their JSON path). Raises
    JSONCError, also for what Python's parser would fail on without a place (see `_check_limits`)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    duplicates: list[tuple[dict[str, Any], str]] = []  # the object (kept alive: ids stay unique), key

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                duplicates.append((result, key))
            result[key] = value
        return result

    cleaned = strip_comments(text)
    if not cleaned.strip():
        raise JSONCError("the file is empty", 1, 1)
    _check_limits(cleaned)
    try:
        value = json.loads(cleaned, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise JSONCError(_friendly(exc.msg), exc.lineno, exc.colno) from None
    if not duplicates:
        return value, []
    # an object inside a value that a later duplicate replaced is not in the result: nothing to report
    paths = {id(item): path for path, item in _objects(value, "")}
    message = "appears twice in one object; the last one is used"
    return value, [
        Problem(_join(paths[id(obj)], key), message, severity="warning")
        for obj, key in duplicates
        if id(obj) in paths
    ]


def _check_limits(text: str) -> None:
    """Refuse, at their line and column, what the parser would fail on without a place: nesting deeper
    than MAX_DEPTH, a number of more than MAX_DIGITS digits, and a string holding half of a surrogate
    pair (`"\\ud800"`: no character, and no UTF-8 encoding, so it could be neither printed nor sent)."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth <= MAX_DEPTH:
                continue
            reason = f"nested more than {MAX_DEPTH} levels deep"
        elif token in "]}":
            depth -= 1
            continue
        elif token[0] != '"':
            reason = f"a number of {len(token)} digits (at most {MAX_DIGITS})"
        elif not _SURROGATE_ESCAPE.search(token) or _encodable(token):
            continue
        else:
            reason = "a \\u escape that is half of a surrogate pair, not a character"
        line = text.count("\n", 0, match.start()) + 1
        raise JSONCError(reason, line, match.start() - text.rfind("\n", 0, match.start()), None)


def _encodable(token: str) -> bool:
    """Whether a JSON string token decodes to text that UTF-8 can encode (True for a broken token: the
    parser reports that one)."""
    try:
        json.loads(token).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except ValueError:
        pass
    return True


def _objects(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object in a parsed value, with its JSON path (`models.m`, `architecture[0]`)."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from _objects(item, _join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _objects(item, f"{path}[{index}]")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _friendly(message: str) -> str:
    hints = {
        "Expecting property name enclosed in double quotes": "expected a key in double quotes",
        "Expecting ',' delimiter": "expected ',' between items (a comma is missing)",
        "Expecting ':' delimiter": "expected ':' after the key",
        "Expecting value": "expected a value",
        "Extra data": "unexpected text after the end of the JSON document",
        "Unterminated string starting at": "unterminated string",
        "Invalid control character at": "a raw control character (newline or tab) inside a string; use \\n",
    }
    return hints.get(message, message)
