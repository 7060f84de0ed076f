"""What `llmnet tune` changes in a composition, applied to its text (comments and layout kept) or, when the
text cannot be edited in place, to its parsed data (written as plain JSON, to a new file only)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .jsonc_edit import Document, EditError, Parser, node_object

OPTIONS_KEYS = ("router-options", "router_options")


@dataclass(frozen=True)
class Change:
    """New values for some members of a node (`options=False`) or of its router-options (`True`)."""

    node: str
    values: dict[str, Any]
    options: bool = False


def _node(data: dict[str, Any], name: str) -> dict[str, Any]:
    for node in data.get("architecture") or []:
        if isinstance(node, dict) and node.get("name") == name:
            return node
    raise EditError(f'no node named "{name}" in "architecture"')


def apply_to_data(data: dict[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """A copy of parsed composition data with the changes made."""
    out = copy.deepcopy(data)
    for change in changes:
        node = _node(out, change.node)
        if not change.options:
            node.update(change.values)
            continue
        key = next((k for k in OPTIONS_KEYS if isinstance(node.get(k), dict)), OPTIONS_KEYS[0])
        node[key] = {**node.get(key, {}), **change.values}
    return out


def apply_to_text(text: str, changes: Iterable[Change]) -> tuple[str, list[str]]:
    """The text with the changes made in place, and the keys whose replaced values held comments.

    Raises EditError when the text cannot be parsed, or the edited text does not hold exactly the
    values meant."""
    changes = list(changes)
    document = Document(text)
    for change in changes:
        target = node_object(document, change.node)
        if change.options:
            member = next((target.member(k) for k in OPTIONS_KEYS if target.member(k) is not None), None)
            if member is not None and member.value.kind == "object":
                document.set_members(member.value, change.values)
                continue
            if member is not None:
                raise EditError(f'node "{change.node}": router-options is not an object')
            document.set_members(target, {"router-options": change.values})
        else:
            document.set_members(target, change.values)
    edited = document.text()
    if Parser(edited).parse().data != apply_to_data(document.root.data, changes):
        raise EditError("the edited text does not hold the values meant")
    return edited, document.lost_comments


def as_plain_json(data: dict[str, Any]) -> str:
    """Parsed composition data written out as indented JSON (no comments)."""
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
