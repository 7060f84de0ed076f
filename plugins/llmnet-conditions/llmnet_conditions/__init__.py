"""llmnet-conditions: text, number and regex functions for `if` expressions, registered through the
`llmnet_register_conditions` hook. A missing (None) argument never raises: it gives false, 0 or None."""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"

_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _text(value: Any) -> str:
    """A value as text: None is empty, booleans are `true`/`false` as the condition language spells them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def contains(text: Any, part: Any) -> bool:
    """True when `part` occurs in `text` (case-sensitive)."""
    return text is not None and part is not None and _text(part) in _text(text)


def icontains(text: Any, part: Any) -> bool:
    """True when `part` occurs in `text`, ignoring case."""
    return text is not None and part is not None and _text(part).casefold() in _text(text).casefold()


def startswith(text: Any, prefix: Any) -> bool:
    """True when `text` starts with `prefix` (case-sensitive)."""
    return text is not None and prefix is not None and _text(text).startswith(_text(prefix))


def endswith(text: Any, suffix: Any) -> bool:
    """True when `text` ends with `suffix` (case-sensitive)."""
    return text is not None and suffix is not None and _text(text).endswith(_text(suffix))


def matches(text: Any, pattern: Any) -> bool:
    """True when the regular expression `pattern` is found anywhere in `text` (Python `re.search`)."""
    if text is None or pattern is None:
        return False
    try:
        compiled = re.compile(_text(pattern))
    except re.error as exc:
        raise ValueError(f"invalid regular expression {_text(pattern)!r}: {exc}") from None
    return compiled.search(_text(text)) is not None


def length(value: Any) -> int:
    """The length of `value` as text (items for a list), 0 when missing."""
    if isinstance(value, Sized) and not isinstance(value, str | bytes):
        return len(value)
    return len(_text(value))


def lower(value: Any) -> str | None:
    """`value` in lower case (missing stays missing)."""
    return None if value is None else _text(value).lower()


def upper(value: Any) -> str | None:
    """`value` in upper case (missing stays missing)."""
    return None if value is None else _text(value).upper()


def trim(value: Any) -> str | None:
    """`value` without leading and trailing whitespace (missing stays missing)."""
    return None if value is None else _text(value).strip()


def number(value: Any) -> float | None:
    """`value` as a number (float), or missing when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _text(value)
    return float(text) if _NUMBER.fullmatch(text) else None


def words(value: Any) -> int:
    """The number of whitespace-separated words in `value`, 0 when missing."""
    return len(_text(value).split())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": contains,
    "icontains": icontains,
    "startswith": startswith,
    "endswith": endswith,
    "matches": matches,
    "len": length,
    "lower": lower,
    "upper": upper,
    "trim": trim,
    "number": number,
    "words": words,
}


@hookimpl(trylast=True)
def llmnet_register_conditions(register: Any) -> None:
    """Register every function of `FUNCTIONS` under its condition name."""
    for name, fn in FUNCTIONS.items():
        register(name, fn)
