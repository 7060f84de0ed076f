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
    i, n = 0, len(text)
    last_significant = -1  # index of the last non-space character outside comments
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            last_significant = i
            i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            if end < 0:
                line = text.count("\n", 0, i) + 1
                column = i - (text.rfind("\n", 0, i) + 1) + 1
                raise JSONCError("unterminated /* comment", line, column)
            for j in range(i, end + 2):
                if out[j] != "\n":
                    out[j] = " "
            i = end + 2
            continue
        if ch in "}]" and last_significant >= 0 and out[last_significant] == ",":
            out[last_significant] = " "
        if not ch.isspace():
            last_significant = i
        i += 1
    return "".join(out)


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
