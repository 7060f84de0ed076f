"""The `if` expression language: a hand-written tokenizer, recursive-descent parser and evaluator.

Grammar, loosest binding first (no eval/exec anywhere; values stay plain Python values):
    or      := and (("or" | "||") and)*
    and     := not (("and" | "&&") not)*
    not     := ("not" | "!") not | compare          # `not $A == 1` means `not ($A == 1)`
    compare := operand [("==" | "!=" | "<" | "<=" | ">" | ">=") operand]   # no chains
    operand := "(" or ")" | $NAME | "string" | 'string' | number | true | false
             | name "(" [or ("," or)*] ")" | bare-word (a string: `$ROUTE_DECISION == technical`)
"""

from __future__ import annotations

import difflib
import math
import numbers
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

from .errors import ConditionError, ConditionSyntaxError

__all__ = ["Condition", "parse_condition"]

_NO_FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType({})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[^\W\d][\w.\-]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_TAIL = re.compile(r"[\w.\-]+")
_NUMERIC_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}
_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SYMBOLS = dict.fromkeys(_COMPARE, "cmp") | {"&&": "and", "||": "or", "!": "not"} | {c: c for c in "(),"}
_MISUSED = {  # symbols that are never right, each with the message pointing at its first character
    "<>": 'unexpected "<>" (use "!=" for "not equal")',
    "<<": 'unexpected "<"',
    ">>": 'unexpected ">"',
    "><": 'unexpected ">"',
    "=": 'unexpected "=" (use "==" to compare)',
    "&": 'unexpected "&" (use "&&" or "and")',
    "|": 'unexpected "|" (use "||" or "or")',
}
_MAX_DEPTH = 64


class _Token(NamedTuple):
    kind: str  # var str num word cmp and or not true false ( ) , end
    value: Any
    start: int  # 0-based index into the expression
    end: int


def _fail(reason: str, text: str, index: int) -> NoReturn:
    raise ConditionSyntaxError(reason, expression=text, position=index + 1)


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at `start`; unknown escapes stay as written (regex `\\d` survives)."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    kind = "double" if quote == '"' else "single"
    _fail(f"unterminated string (no closing {kind} quote)", text, start)


def _tokenize(text: str) -> list[_Token]:
    """Split an expression into tokens, raising ConditionSyntaxError at the first character that fits none."""
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        kind, value, end = _read_token(text, i)
        tokens.append(_Token(kind, value, i, end))
        i = end
    tokens.append(_Token("end", None, len(text), len(text)))
    return tokens


def _read_token(text: str, i: int) -> tuple[str, Any, int]:
    """The kind, value and end of the token starting at `i`, which is not a space."""
    if text[i] == "$":
        if not (m := _NAME.match(text, i + 1)):
            _fail('expected a variable name after "$"', text, i)
        return "var", m.group(), m.end()
    if text[i] in "\"'":
        return ("str", *_read_string(text, i))
    if m := _NUMBER.match(text, i):
        if tail := _NUMBER_TAIL.match(text, m.end()):
            _fail(f'invalid number "{text[i : tail.end()]}" (quote it if it is text)', text, i)
        raw = m.group()
        return "num", float(raw) if any(c in raw for c in ".eE") else int(raw), m.end()
    if m := _WORD.match(text, i):
        word = m.group()
        return word.lower() if word.lower() in _KEYWORDS else "word", word, m.end()
    return _read_symbol(text, i)


def _read_symbol(text: str, i: int) -> tuple[str, str, int]:
    """An operator or punctuation token, the two-character reading first; a known misuse gets a hint."""
    for symbol in (text[i : i + 2], text[i]):
        if symbol in _SYMBOLS:
            return _SYMBOLS[symbol], symbol, i + len(symbol)
        if symbol in _MISUSED:
            _fail(_MISUSED[symbol], text, i)
    _fail(f'unexpected "{text[i]}"', text, i)


# -- values ------------------------------------------------------------------------------------------


def _as_number(value: Any) -> int | float | None:
    """The number a value stands for (`"12"` → 12, `"1.5"` → 1.5), or None; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _NUMERIC_TEXT.fullmatch(value):
            return None
        return int(value) if _INTEGER_TEXT.fullmatch(value) else float(value)
    if isinstance(value, numbers.Real):
        number = value if isinstance(value, int | float) else float(value)
        return None if isinstance(number, float) and math.isnan(number) else number
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    """Numeric when both sides are numbers, else text equality; a missing side makes any comparison false."""
    if left is None or right is None:
        return False
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        return _COMPARE[op](a, b)
    if op not in ("==", "!="):
        return False
    x, y = _as_text(left), _as_text(right)
    if isinstance(left, bool) or isinstance(right, bool):  # `$FLAG == true` accepts "True" and " true"
        x, y = x.strip().lower(), y.strip().lower()
    return (x == y) == (op == "==")


def _present(value: Any) -> bool:
    """A variable standing alone: true when it is present and non-empty."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value) > 0
    return True


# -- evaluation ------------------------------------------------------------------------------------
# The tree is plain tuples: ("lit", value) ("var", name) ("not", node) ("and"|"or", (nodes...))
# ("cmp", op, left, right) ("call", name, (nodes...)).

_Node = tuple[Any, ...]


class _Context(NamedTuple):
    variables: Mapping[str, Any]
    functions: Mapping[str, Callable[..., Any]]
    text: str


def _value(node: _Node, ctx: _Context) -> Any:
    """The plain Python value of a node (None for a missing variable)."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        return ctx.variables.get(node[1])
    if kind == "cmp":
        return _compare(node[1], _value(node[2], ctx), _value(node[3], ctx))
    if kind == "call":
        return _call(node[1], [_value(arg, ctx) for arg in node[2]], ctx)
    return _truth(node, ctx)


def _truth(node: _Node, ctx: _Context) -> bool:
    """A node used as a condition: variables by presence, `and`/`or` short-circuiting."""
    kind = node[0]
    if kind == "var":
        return _present(ctx.variables.get(node[1]))
    if kind == "not":
        return not _truth(node[1], ctx)
    if kind == "and":
        return all(_truth(part, ctx) for part in node[1])
    if kind == "or":
        return any(_truth(part, ctx) for part in node[1])
    result = _value(node, ctx)
    try:
        return bool(result)
    except Exception as exc:
        raise ConditionError(
            f"condition function '{node[1]}' returned {type(result).__name__}, which is neither true nor "
            f"false, in {ctx.text!r}"
        ) from exc


def _call(name: str, args: list[Any], ctx: _Context) -> Any:
    """Call a registered function; an unknown name or a failure becomes ConditionError, never a raw error."""
    fn = ctx.functions.get(name)
    if fn is None:
        known = sorted(ctx.functions)
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif known:
            hint = f"known functions: {', '.join(known)}"
        else:
            from .composition.catalogue import providers_of

            hint = "no condition functions are registered; install a plugin that provides some: pip install "
            hint += " or ".join(providers_of("condition function"))
        raise ConditionError(f"unknown condition function '{name}' in {ctx.text!r}", hint=hint)
    try:
        return fn(*args)
    except Exception as exc:
        raise ConditionError(
            f"condition function '{name}' failed in {ctx.text!r}: {type(exc).__name__}: {exc}"
        ) from exc


# -- parser ------------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list; records the variables and functions it meets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0
        self.variables: set[str] = set()
        self.functions: set[str] = set()

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def source(self, token: _Token) -> str:
        raw = self.text[token.start : token.end]
        return raw if len(raw) <= 30 else raw[:27] + "..."

    def fail(self, reason: str, token: _Token) -> NoReturn:
        _fail(reason, self.text, token.start)

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            _fail("empty expression", self.text, 0)
        root = self.parse_or()
        token = self.peek()
        if token.kind == ")":
            self.fail('unexpected ")" (no matching "(")', token)
        if token.kind in ("var", "str", "num", "word", "true", "false", "not", "("):
            self.fail(f'unexpected "{self.source(token)}" (missing "and" or "or"?)', token)
        if token.kind != "end":
            self.fail(f'unexpected "{self.source(token)}"', token)
        return root

    def parse_or(self) -> _Node:
        parts = [self.parse_and()]
        while self.peek().kind == "or":
            self.advance()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else ("or", tuple(parts))

    def parse_and(self) -> _Node:
        parts = [self.parse_not()]
        while self.peek().kind == "and":
            self.advance()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))

    def parse_not(self) -> _Node:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                self.fail(f"expression nested too deeply (more than {_MAX_DEPTH} levels)", self.peek())
            if self.peek().kind == "not":
                self.advance()
                return ("not", self.parse_not())
            return self.parse_compare()
        finally:
            self.depth -= 1

    def parse_compare(self) -> _Node:
        left = self.parse_operand()
        token = self.peek()
        if token.kind != "cmp":
            return left
        self.advance()
        right = self.parse_operand()
        after = self.peek()
        if after.kind == "cmp":
            self.fail('comparison chains are not allowed (join the comparisons with "and")', after)
        return ("cmp", token.value, left, right)

    def parse_operand(self) -> _Node:
        token = self.peek()
        kind = token.kind
        if kind == "(":
            self.advance()
            inner = self.parse_or()
            self.expect_close(token, 'unclosed "("')
            return inner
        if kind == "var":
            self.advance()
            self.variables.add(token.value)
            return ("var", token.value)
        if kind in ("str", "num"):
            self.advance()
            return ("lit", token.value)
        if kind in ("true", "false"):
            self.advance()
            return ("lit", kind == "true")
        if kind == "word":
            self.advance()
            if self.peek().kind == "(":
                return self.parse_call(token)
            return ("lit", token.value)
        if kind == "end":
            previous = self.tokens[self.pos - 1]
            _fail(f'expected a value after "{self.source(previous)}"', self.text, len(self.text))
        self.fail(f'unexpected "{self.source(token)}"', token)

    def parse_call(self, name: _Token) -> _Node:
        opening = self.advance()
        args: list[_Node] = []
        if self.peek().kind != ")":
            args.append(self.parse_or())
            while self.peek().kind == ",":
                self.advance()
                args.append(self.parse_or())
        self.expect_close(opening, f'unclosed "(" of {name.value}()', f" in the arguments of {name.value}()")
        self.functions.add(name.value)
        return ("call", name.value, tuple(args))

    def expect_close(self, opening: _Token, unclosed: str, where: str = "") -> None:
        token = self.peek()
        if token.kind == ")":
            self.advance()
        elif token.kind == "end":
            self.fail(unclosed, opening)
        else:
            expected = '"," or ")"' if where else '")"'
            self.fail(f'expected {expected}{where} but found "{self.source(token)}"', token)


# -- public API --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A parsed `if` expression: immutable and reusable, so parsing happens once per distinct text."""

    text: str
    variables: frozenset[str]
    functions: frozenset[str]
    _root: _Node = field(repr=False, compare=False)

    def evaluate(
        self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] = _NO_FUNCTIONS
    ) -> bool:
        """True when the expression holds for these variables; function failures raise ConditionError."""
        return _truth(self._root, _Context(variables, functions, self.text))

    def explain(
        self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] = _NO_FUNCTIONS
    ) -> str:
        """One line for error messages and traces: the outcome and the values of the variables used."""
        outcome = "true" if self.evaluate(variables, functions) else "false"
        shown = [
            f"${name} missing" if variables.get(name) is None else f"${name}={variables[name]!r}"
            for name in sorted(self.variables)
        ]
        return f"{self.text!r} is {outcome}" + (f" ({', '.join(shown)})" if shown else "")


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Condition:
    parser = _Parser(text)
    root = parser.parse()
    return Condition(text, frozenset(parser.variables), frozenset(parser.functions), root)


def parse_condition(text: str) -> Condition:
    """Parse an `if` expression (cached); raises ConditionSyntaxError with the reason and 1-based column."""
    if not isinstance(text, str):
        raise ConditionSyntaxError(
            f"a condition must be text, got {type(text).__name__}", expression=repr(text), position=1
        )
    return _parse_cached(text)
