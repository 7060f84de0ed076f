"""Replaces secret values with *** wherever text leaves llmnet (logs, traces, errors, JSON output)."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words


class Redactor:
    """Knows the secret values of a pipeline and masks them in any text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_LENGTH:
                self._values.add(value)
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not isinstance(text, str):
            return text
        return self._pattern.sub(MASK, text)

    def __bool__(self) -> bool:
        return bool(self._values)
