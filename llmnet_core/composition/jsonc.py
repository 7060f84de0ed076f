"""JSON with `//` and `/* */` comments and trailing commas, parsed so errors keep their line and column."""

from __future__ import annotations

import json
from typing import Any

from ..errors import Problem


class JSONCError(ValueError):
    """A syntax error, with the 1-based line and column in the original text."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.reason = message
        self.line = line
        self.column = column


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
    """Parse JSONC text; returns the value and warnings (duplicate keys). Raises JSONCError."""
    if text.startswith("\ufeff"):
        text = text[1:]
    warnings: list[Problem] = []
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    cleaned = strip_comments(text)
    if not cleaned.strip():
        raise JSONCError("the file is empty", 1, 1)
    try:
        value = json.loads(cleaned, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise JSONCError(_friendly(exc.msg), exc.lineno, exc.colno) from None
    for key in duplicates:
        warnings.append(
            Problem("", f'key "{key}" appears twice in one object; the last one is used', severity="warning")
        )
    return value, warnings


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
