"""Changes to a composition given on the command line (`--set PATH=VALUE`), applied to the parsed document
before it is validated, so that a bad value is reported at its JSON path like one written in the file.

PATH walks the document: `models.local.parameters.temperature`, `architecture[2].if`, `architecture.2.if`,
or a node by its name, `architecture.router.output-to`; a key holding a dot is quoted
(`models."gpt-4.1".url` or `models["gpt-4.1"].url`). VALUE is read as JSON when it is JSON (`0.2`, `true`,
`null`, `[1, 2]`, `"text"`), else it is the text as written. Objects on the way that do not exist yet are
created; list entries are not.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

#: how the option is named in messages
OPTION = "--set"
HINT = "write PATH=VALUE, e.g. models.local.parameters.temperature=0.2 or architecture[1].layer=2"


@dataclass(frozen=True)
class Override:
    """One `PATH=VALUE`: the keys of PATH (`"2"` for a list index), the value, and the option as written."""

    keys: tuple[str, ...]
    value: Any
    written: str


def parse_override(text: str) -> Override:
    """Read one `PATH=VALUE`; a malformed one is a UsageError that quotes it."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise UsageError(f"{OPTION} {text!r}: not PATH=VALUE", hint=HINT)
    keys = _split_path(path.strip(), text)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return Override(keys, value, text)


def apply_overrides(document: Any, overrides: Iterable[str | Override]) -> Any:
    """A copy of the parsed composition `document` with each override set, in order; a path that cannot
    be followed is a UsageError naming the option and the place."""
    items = [o if isinstance(o, Override) else parse_override(o) for o in overrides]
    if not items:
        return document
    if not isinstance(document, dict):
        raise UsageError(f"{OPTION} {items[0].written}: the composition is not a JSON object")
    data = copy.deepcopy(document)
    for item in items:
        _set(data, item)
    return data


def _split_path(path: str, written: str) -> tuple[str, ...]:
    """`models."a.b".url` / `architecture[2].if` → the keys; an empty key is a UsageError."""
    keys: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char == ".":
            i += 1
            if i == len(path) or path[i] == ".":
                raise UsageError(f"{OPTION} {written}: {path!r} has an empty key", hint=HINT)
            continue
        if char in '["':
            close = "]" if char == "[" else '"'
            end = path.find(close, i + 1)
            if end < 0:
                raise UsageError(f"{OPTION} {written}: unclosed {char} in {path!r}", hint=HINT)
            key = path[i + 1 : end]
            if char == "[" and len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
                key = key[1:-1]
            keys.append(key)
            i = end + 1
            continue
        end = min((j for j in (path.find(".", i), path.find("[", i)) if j >= 0), default=len(path))
        keys.append(path[i:end])
        i = end
    if not keys or not all(keys):
        raise UsageError(f"{OPTION} {written}: {path!r} has an empty key", hint=HINT)
    return tuple(keys)


def _set(data: dict[str, Any], item: Override) -> None:
    node: Any = data
    place = ""
    for depth, key in enumerate(item.keys):
        last = depth == len(item.keys) - 1
        if isinstance(node, dict):
            if last:
                node[key] = item.value
                return
            if not isinstance(node.get(key), dict | list):
                if key in node and node[key] is not None:
                    shown = _join(place, key)
                    raise UsageError(
                        f"{OPTION} {item.written}: {shown} is {_kind(node[key])}, not an object",
                        hint=f"set {shown} itself, or check the path",
                    )
                node[key] = {}
            place, node = _join(place, key), node[key]
        elif isinstance(node, list):
            index = _index(node, key, place, item)
            if last:
                node[index] = item.value
                return
            place, node = f"{place}[{index}]", node[index]
        else:  # pragma: no cover - a dict or list is all _set descends into
            raise AssertionError(node)


def _index(entries: list[Any], key: str, place: str, item: Override) -> int:
    """A list entry by position (`2`) or, for lists of named entries (nodes), by `name`."""
    if key.isdigit():
        if int(key) < len(entries):
            return int(key)
        raise UsageError(
            f"{OPTION} {item.written}: {place} has {len(entries)} entries, so no [{key}]",
            hint=f"use 0 to {len(entries) - 1}, or a node's name" if entries else None,
        )
    names = [e.get("name") for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") == key:
            return index
    close = difflib.get_close_matches(key, names, n=1)
    hint = f'did you mean "{close[0]}"?' if close else (f"names: {', '.join(names)}" if names else None)
    raise UsageError(f'{OPTION} {item.written}: {place} has no entry named "{key}"', hint=hint)


def _join(place: str, key: str) -> str:
    shown = json.dumps(key) if any(c in key for c in '.[]" ') else key
    return f"{place}.{shown}" if place else shown


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
