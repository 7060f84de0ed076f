"""Change values in a JSON or JSONC text in place: only the spans of the values that change are rewritten,
so comments, key order, layout and line endings stay as the user wrote them.

`Document(text)` parses the text with every value's position; `set_members(object, {key: value})`
replaces existing members' values and adds the others after the object's last member, in its indentation;
`text()` applies the changes. Comments inside a replaced value are lost (they are reported).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
#: a list rendered on one line when it fits in this many characters, else one item a line
LINE_WIDTH = 100


class EditError(ValueError):
    """The text cannot be parsed or edited as asked."""


@dataclass
class Node:
    """A parsed value and its span in the text."""

    start: int
    end: int
    data: Any = None
    members: list[Member] = field(default_factory=list)  #: for an object
    items: list[Node] = field(default_factory=list)  #: for an array
    kind: str = "scalar"  #: scalar | object | array

    def member(self, key: str) -> Member | None:
        """The member called `key` (the last one when the key appears twice, as JSON parsers read it)."""
        found = [m for m in self.members if m.key == key]
        return found[-1] if found else None


@dataclass
class Member:
    key: str
    key_start: int
    value: Node


class Parser:
    """A JSONC parser (comments, trailing commas) that keeps positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 1 if text.startswith("\ufeff") else 0
        self.comments: list[tuple[int, int]] = []

    def parse(self) -> Node:
        self._skip()
        node = self._value()
        self._skip()
        if self.i != len(self.text):
            self._fail("unexpected text after the value")
        return node

    def _fail(self, message: str) -> None:
        line = self.text.count("\n", 0, self.i) + 1
        raise EditError(f"{message} (line {line})")

    def _skip(self) -> None:
        text = self.text
        while self.i < len(text):
            if text[self.i] in " \t\r\n":
                self.i += 1
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                end = len(text) if end < 0 else end
                self.comments.append((self.i, end))
                self.i = end
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    self._fail("unterminated comment")
                self.comments.append((self.i, end + 2))
                self.i = end + 2
            else:
                return

    def _value(self) -> Node:
        if self.i >= len(self.text):
            self._fail("expected a value")
        char = self.text[self.i]
        if char == "{":
            return self._object()
        if char == "[":
            return self._array()
        match = (_STRING if char == '"' else _SCALAR).match(self.text, self.i)
        if match is None:
            self._fail("expected a value")
        assert match is not None
        self.i = match.end()
        return Node(match.start(), match.end(), json.loads(match.group()))

    def _object(self) -> Node:
        node = Node(self.i, self.i, {}, kind="object")
        self.i += 1
        while True:
            self._skip()
            if self.text.startswith("}", self.i):
                break
            match = _STRING.match(self.text, self.i)
            if match is None:
                self._fail("expected a key in double quotes")
            assert match is not None
            key, key_start = json.loads(match.group()), self.i
            self.i = match.end()
            self._skip()
            if not self.text.startswith(":", self.i):
                self._fail("expected ':'")
            self.i += 1
            self._skip()
            value = self._value()
            node.members.append(Member(key, key_start, value))
            node.data[key] = value.data
            if not self._comma("}"):
                break
        self.i += 1
        node.end = self.i
        return node

    def _array(self) -> Node:
        node = Node(self.i, self.i, [], kind="array")
        self.i += 1
        while True:
            self._skip()
            if self.text.startswith("]", self.i):
                break
            value = self._value()
            node.items.append(value)
            node.data.append(value.data)
            if not self._comma("]"):
                break
        self.i += 1
        node.end = self.i
        return node

    def _comma(self, closing: str) -> bool:
        """After an item: True when a comma follows (more may come), False at the closing bracket."""
        self._skip()
        if self.text.startswith(",", self.i):
            self.i += 1
            return True
        if not self.text.startswith(closing, self.i):
            self._fail(f"expected ',' or '{closing}'")
        return False


class Document:
    """A JSONC text and the changes to make to it."""

    def __init__(self, text: str) -> None:
        self.original = text
        parser = Parser(text)
        self.root = parser.parse()
        self.comments = parser.comments
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._edits: list[tuple[int, int, str]] = []
        #: what the changes lose: comments inside replaced values, by the key that held them
        self.lost_comments: list[str] = []

    # -- positions -------------------------------------------------------------------------------------

    def _line_start(self, position: int) -> int:
        return self.original.rfind("\n", 0, position) + 1

    def _indent(self, position: int) -> str:
        """The whitespace that begins the line of `position`."""
        start = self._line_start(position)
        line = self.original[start:position]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def _own_line(self, position: int) -> bool:
        """Whether only whitespace precedes `position` on its line."""
        return not self.original[self._line_start(position) : position].strip(" \t")

    def _unit(self, node: Node, member_indent: str) -> str:
        outer = self._indent(node.start)
        step = member_indent[len(outer) :] if member_indent.startswith(outer) else ""
        return step or "  "

    # -- changes ---------------------------------------------------------------------------------------

    def set_members(self, node: Node, values: dict[str, Any]) -> None:
        """Give the object `node` these members: existing ones get the new value, others are added."""
        if node.kind != "object":
            raise EditError("expected an object")
        new = {}
        for key, value in values.items():
            member = node.member(key)
            if member is None:
                new[key] = value
            else:
                self._replace(node, member, value)
        if new:
            self._insert(node, new)

    def _replace(self, node: Node, member: Member, value: Any) -> None:
        start, end = member.value.start, member.value.end
        if any(start <= c < end for c, _ in self.comments):
            self.lost_comments.append(member.key)
        indent = self._indent(member.key_start) if self._own_line(member.key_start) else None
        unit = self._unit(node, indent) if indent is not None else "  "
        self._edits.append((start, end, self._render(value, indent, unit, len(member.key) + 4)))

    def _insert(self, node: Node, values: dict[str, Any]) -> None:
        if not node.members:
            inner = ", ".join(f"{json.dumps(k)}: {self._render(v, None, '')}" for k, v in values.items())
            self._edits.append((node.start, node.end, "{ " + inner + " }"))
            return
        last = node.members[-1]
        position = last.value.end
        end_of_line = self.original.find("\n", position)
        end_of_line = len(self.original) if end_of_line < 0 else end_of_line
        rest = self.original[position:end_of_line].strip()
        if not self._own_line(last.key_start) or not _only_comma_or_comment(rest):
            # an object on one line (or its closing brace right after the last value): add inline
            text = "".join(f", {json.dumps(k)}: {self._render(v, None, '')}" for k, v in values.items())
            self._edits.append((position, position, text))
            return
        indent = self._indent(last.key_start)
        unit = self._unit(node, indent)
        lines = [
            f"{indent}{json.dumps(k)}: {self._render(v, indent, unit, len(k) + 4)}" for k, v in values.items()
        ]
        nl = self.newline
        if rest.startswith(","):  # a trailing comma: keep that style
            self._edits.append((end_of_line, end_of_line, "".join(f"{nl}{line}," for line in lines)))
        elif rest:  # a comment after the last value: the comma goes before it
            self._edits.append((position, position, ","))
            self._edits.append((end_of_line, end_of_line, nl + f",{nl}".join(lines)))
        else:
            self._edits.append((position, position, "".join(f",{nl}{line}" for line in lines)))

    def _render(self, value: Any, indent: str | None, unit: str, key_width: int = 0) -> str:
        """The JSON of `value`: on one line, or a list one item a line when it is too long for its line."""
        flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        if indent is None or not isinstance(value, list) or len(indent) + key_width + len(flat) <= LINE_WIDTH:
            return flat
        inner = indent + unit
        items = f",{self.newline}".join(inner + json.dumps(v, ensure_ascii=False) for v in value)
        return f"[{self.newline}{items}{self.newline}{indent}]"

    def text(self) -> str:
        """The text with every change applied."""
        out = self.original
        for start, end, replacement in sorted(self._edits, key=lambda e: (e[0], e[1]), reverse=True):
            out = out[:start] + replacement + out[end:]
        return out


def _only_comma_or_comment(rest: str) -> bool:
    """Whether what follows a value on its line is nothing, a comma, and/or a `//` comment."""
    rest = rest.removeprefix(",").strip()
    return not rest or rest.startswith("//")


def node_object(document: Document, name: str) -> Node:
    """The `architecture` entry called `name`."""
    architecture = document.root.member("architecture") if document.root.kind == "object" else None
    if architecture is None or architecture.value.kind != "array":
        raise EditError('no "architecture" list')
    for item in architecture.value.items:
        if item.kind == "object" and item.data.get("name") == name:
            return item
    raise EditError(f'no node named "{name}" in "architecture"')
