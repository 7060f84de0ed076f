"""Labelled requests: one JSON object a line, `{"text": ..., "label": NODE}` (or `"messages": [...]` for a
conversation, `"label": [...]` for several acceptable nodes, `"variables": {...}` for conditions,
`"kind": "..."` to report a group of requests apart; other keys are ignored).

Every problem is reported with the file and the line, all of them at once, as a usage error.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmnet_core import UsageError

#: problems listed before "... and N more"
MAX_LISTED = 20
FORMAT_HINT = 'each line is one JSON object: {"text": "the request", "label": "the node that should answer"}'


@dataclass(frozen=True)
class Item:
    """One labelled request, from line `line` of the file."""

    line: int
    text: str  #: what the first router reads: `text`, or the last user message of `messages`
    labels: tuple[str, ...]
    messages: tuple[Mapping[str, str], ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None  #: a group to report apart (`follow-up`, `switch`...)

    @property
    def group(self) -> str:
        """The request's group in reports: its `kind`, else `conversation` or `single`."""
        return self.kind or ("conversation" if self.messages else "single")

    @property
    def before(self) -> tuple[Mapping[str, str], ...]:
        """The messages before the routed one (the last user message): what a router gets as history."""
        users = [i for i, m in enumerate(self.messages) if m["role"] == "user"]
        return self.messages[: users[-1]] if users else ()

    @property
    def prompt(self) -> str | list[dict[str, str]]:
        """What `Pipeline.run` gets: the text, or the whole conversation."""
        return [dict(m) for m in self.messages] if self.messages else self.text


class DataError(UsageError):
    """The labelled requests cannot be used: every problem, with its line."""


def read_items(path: str) -> list[Item]:
    """Parse the labelled requests in `path`; a missing, unreadable or empty file, or any bad line, is a
    DataError listing every problem."""
    text = _read(path)
    items: list[Item] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        parsed = parse_line(raw, number)
        if isinstance(parsed, str):
            problems.append((number, parsed))
        else:
            items.append(parsed)
    if problems:
        raise_problems(path, problems, FORMAT_HINT)
    if not items:
        raise DataError(f"{path}: no labelled requests (the file is empty)", hint=FORMAT_HINT)
    return items


def _read(path: str) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file", hint="give the path of a .jsonl file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a file of labelled requests") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None


def parse_line(raw: str, number: int) -> Item | str:
    """Line `number` as an Item, or what is wrong with it."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return "not valid JSON: nested too deeply"
    if not isinstance(data, dict):
        return f"expected a JSON object, got {_kind(data)}"
    labels = _labels(data.get("label"))
    if isinstance(labels, str):
        return labels
    request = _request(data)
    if isinstance(request, str):
        return request
    variables = _variables(data.get("variables"))
    if isinstance(variables, str):
        return variables
    kind = data.get("kind")
    if kind is not None and not (isinstance(kind, str) and kind):
        return '"kind" must be a non-empty string'
    return Item(number, request[0], labels, request[1], variables, kind)


def _labels(value: Any) -> tuple[str, ...] | str:
    if value is None:
        return 'missing "label" (the node that should answer, or a list of acceptable ones)'
    values = value if isinstance(value, list) else [value]
    if not values:
        return '"label" is an empty list'
    if not all(isinstance(v, str) and v for v in values):
        return '"label" must be a node name or a list of node names'
    return tuple(dict.fromkeys(values))


def _request(data: Mapping[str, Any]) -> tuple[str, tuple[Mapping[str, str], ...]] | str:
    """The routed text and the conversation (empty for a plain text)."""
    if "text" in data and "messages" in data:
        return 'give "text" or "messages", not both'
    if "text" in data:
        text = data["text"]
        if not isinstance(text, str) or not text.strip():
            return '"text" must be a non-empty string'
        return text, ()
    messages = data.get("messages")
    if messages is None:
        return 'missing "text" (or "messages" for a conversation)'
    if not isinstance(messages, list) or not messages:
        return '"messages" must be a non-empty list of {"role", "content"} objects'
    for index, message in enumerate(messages):
        if not (
            isinstance(message, dict)
            and isinstance(message.get("role"), str)
            and isinstance(message.get("content"), str)
        ):
            return f'"messages"[{index}] must be an object with string "role" and "content"'
    users = [m["content"] for m in messages if m["role"] == "user"]
    if not users:
        return '"messages" has no user message (routing reads the last one)'
    return users[-1], tuple({"role": m["role"], "content": m["content"]} for m in messages)


def _variables(value: Any) -> dict[str, str] | str:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return '"variables" must be an object of NAME: value'
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number"
    )


def check_labels(path: str, items: list[Item], nodes: Collection[str], reachable: Collection[str]) -> None:
    """Every label names a node of the composition that requests can reach (did-you-mean otherwise)."""
    problems: list[tuple[int, str]] = []
    for item in items:
        for label in item.labels:
            if label not in nodes:
                close = difflib.get_close_matches(label, list(nodes), n=1, cutoff=0.6)
                guess = f' (did you mean "{close[0]}"?)' if close else ""
                problems.append((item.line, f'label "{label}" is not a node of the composition{guess}'))
            elif label not in reachable:
                problems.append((item.line, f'label "{label}": no request can reach that node'))
    if problems:
        raise_problems(path, problems, f"nodes: {', '.join(sorted(nodes))}")


def raise_problems(path: str, problems: list[tuple[int, str]], hint: str) -> None:
    """Raise one DataError for every problem: one line for one, a list for several."""
    if len(problems) == 1:
        line, message = problems[0]
        raise DataError(f"{path}, line {line}: {message}", hint=hint)
    listed = [f"  line {line}: {message}" for line, message in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        listed.append(f"  ... and {len(problems) - MAX_LISTED} more")
    raise DataError("\n".join([f"{path}: {len(problems)} problems", *listed]), hint=hint)
