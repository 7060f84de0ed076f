"""Exact, bounded evaluation of arithmetic written as a Python expression, and how results are written.

Only numbers, `+ - * / // % **` and parentheses are accepted: the text is parsed with `ast` and walked
node by node, so no name, call or attribute is ever looked up. Numbers are exact fractions (`0.1 + 0.2`
is 3/10); a fractional exponent is a root, exact when the root is rational and approximate otherwise.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

#: longest expression text, and most syntax nodes, that are evaluated at all
MAX_CHARS = 300
MAX_NODES = 80
#: bits allowed in a numerator or denominator (about 1,000 decimal digits)
MAX_BITS = 3400
#: largest exponent magnitude, and largest root (the denominator of a fractional exponent)
MAX_EXPONENT = 100_000
MAX_ROOT = 12
#: decimal places shown for values that are not whole
SHOWN_PLACES = 6
#: a terminating decimal with up to this many places is written out exactly
EXACT_PLACES = 12


class CalculationError(Exception):
    """A calculation that was found but has no answer; the message says why, in a few words."""


class Undefined(CalculationError):
    """Division by zero, a zero to a negative power, an even root of a negative number."""


class TooLarge(CalculationError):
    """A number or an exponent beyond the limits above."""


class NotArithmetic(ValueError):
    """The text is not an expression of the accepted form."""


@dataclass(frozen=True)
class Result:
    """The value of an expression; `approximate` when an irrational root was rounded."""

    value: Fraction
    approximate: bool = False


_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}


def parse(expression: str) -> ast.expr:
    """The syntax tree of `expression`, refused unless it holds only numbers and the accepted operators."""
    if len(expression) > MAX_CHARS:
        raise NotArithmetic("the expression is too long")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise NotArithmetic("not an arithmetic expression") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise NotArithmetic("the expression is too long")
    for node in nodes:
        if not _allowed(node):
            raise NotArithmetic(f"{type(node).__name__} is not arithmetic")
    return tree.body


def _allowed(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, ast.BinOp):
        return type(node.op) in _BINARY
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.UAdd | ast.USub)
    return isinstance(node, ast.Expression | ast.expr_context | ast.operator | ast.unaryop)


def evaluate(expression: str) -> Result:
    """The exact value of `expression`; raises NotArithmetic or a CalculationError."""
    tree = parse(expression)
    evaluator = _Evaluator(expression.strip())
    value = evaluator.value(tree)
    return Result(value, evaluator.approximate)


class _Evaluator:
    """Walks a checked tree; remembers whether any step had to round."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.approximate = False

    def value(self, node: ast.expr) -> Fraction:
        if isinstance(node, ast.Constant):
            return _bounded(_literal(node, self.source))
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        assert isinstance(node, ast.BinOp)
        left, right = self.value(node.left), self.value(node.right)
        if isinstance(node.op, ast.Pow):
            result, rounded = power(left, right)
            self.approximate = self.approximate or rounded
            return _bounded(result)
        return _bounded(_combine(node.op, left, right))


def _literal(node: ast.Constant, source: str) -> Fraction:
    """A number exactly as written (0.1 stays 1/10), not as the float Python would read."""
    text = ast.get_source_segment(source, node) or repr(node.value)
    text = text.replace("_", "")
    if len(text) > 60:
        raise TooLarge("that number is too long to work with")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return Fraction(node.value)


def _combine(op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if right == 0:
        raise Undefined("division by zero is undefined")
    if isinstance(op, ast.Div):
        return left / right
    if isinstance(op, ast.FloorDiv):
        return Fraction(left // right)
    return left % right


def _bounded(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise TooLarge("the result would have more than 1,000 digits")
    return value


def power(base: Fraction, exponent: Fraction) -> tuple[Fraction, bool]:
    """`base ** exponent` and whether it was rounded; a fractional exponent p/q is a q-th root."""
    if abs(exponent.numerator) > MAX_EXPONENT:
        raise TooLarge("that exponent is too large")
    if base == 0 and exponent < 0:
        raise Undefined("zero to a negative power is undefined (it divides by zero)")
    if exponent.denominator == 1:
        size = max(base.numerator.bit_length(), base.denominator.bit_length())
        if abs(base) != 1 and base != 0 and (size - 1) * abs(exponent.numerator) > MAX_BITS:
            raise TooLarge("the result would have more than 1,000 digits")
        return base**exponent.numerator, False
    return _root_power(base, exponent)


def _root_power(base: Fraction, exponent: Fraction) -> tuple[Fraction, bool]:
    degree = exponent.denominator
    if degree > MAX_ROOT:
        raise TooLarge("only roots up to the twelfth are computed")
    if base < 0 and degree % 2 == 0:
        raise Undefined("a negative number has no real even root")
    root = exact_root(abs(base), degree)
    sign = -1 if base < 0 else 1
    if root is not None:
        return power(sign * root, Fraction(exponent.numerator))[0], False
    with localcontext() as context:
        context.prec = 30
        magnitude = Decimal(abs(base.numerator)) / Decimal(base.denominator)
        approx = Fraction(magnitude ** (Decimal(1) / Decimal(degree)))
    return power(sign * approx, Fraction(exponent.numerator))[0], True


def exact_root(value: Fraction, degree: int) -> Fraction | None:
    """The rational `degree`-th root of a non-negative `value`, or None when it is irrational."""
    parts = [_integer_root(value.numerator, degree), _integer_root(value.denominator, degree)]
    if parts[0] is None or parts[1] is None:
        return None
    return Fraction(parts[0], parts[1])


def _integer_root(n: int, degree: int) -> int | None:
    if n < 2:
        return n
    guess = math.isqrt(n) if degree == 2 else round(n ** (1.0 / degree)) if n.bit_length() < 1000 else None
    if guess is None:
        return None
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate**degree == n:
            return candidate
    return None


def render(node: ast.expr, source: str) -> str:
    """The expression as a person writes it: `×`, `÷`, `^`, `√`, `15% of 200`, minimal parentheses."""
    return _render(node, source, 0)


_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2, ast.Pow: 4}
_SHOWN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "×", ast.Div: "÷", ast.FloorDiv: "div", ast.Mod: "mod"}


def _render(node: ast.expr, source: str, outer: int) -> str:
    if isinstance(node, ast.Constant):
        return format_number(_literal(node, source))
    if isinstance(node, ast.UnaryOp):
        text = ("-" if isinstance(node.op, ast.USub) else "+") + _render(node.operand, source, 3)
        return f"({text})" if outer >= 3 else text
    assert isinstance(node, ast.BinOp)
    special = _special(node, source)
    if special is not None:
        return special
    level = _PRECEDENCE[type(node.op)]
    if isinstance(node.op, ast.Pow):
        text = f"{_render(node.left, source, 5)}^{_render(node.right, source, 5)}"
    else:
        right_level = level + 1 if isinstance(node.op, ast.Sub | ast.Div | ast.FloorDiv | ast.Mod) else level
        left, right = _render(node.left, source, level), _render(node.right, source, right_level)
        text = f"{left} {_SHOWN[type(node.op)]} {right}"
    return f"({text})" if level < outer else text


def _special(node: ast.BinOp, source: str) -> str | None:
    """`a / 100 * b` as `a% of b`, and `a ** (1 / 2)` as `√a` (`∛a` for a third)."""
    left, right = node.left, node.right
    if isinstance(node.op, ast.Mult) and _is_percent(left):
        assert isinstance(left, ast.BinOp)
        return f"{_render(left.left, source, 5)}% of {_render(right, source, 2)}"
    sign = _ROOT_SIGNS.get(_root_degree(right)) if isinstance(node.op, ast.Pow) else None
    if sign is not None:
        return f"{sign}{_render(left, source, 5)}"
    return None


def _is_percent(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and isinstance(node.right, ast.Constant)
        and node.right.value == 100
    )


_ROOT_SIGNS = {2: "√", 3: "∛"}


def _root_degree(node: ast.expr) -> int | None:
    """n for an exponent written `1 / n`, else None."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
        return None
    left, right = node.left, node.right
    if isinstance(left, ast.Constant) and left.value == 1 and isinstance(right, ast.Constant):
        return right.value if isinstance(right.value, int) else None
    return None


def format_number(value: Fraction) -> str:
    """A value written out exactly where that is short: `42`, `12,500`, `0.75`, `-3.5`; otherwise the
    fraction (`10/3`)."""
    if value.denominator == 1:
        return _whole(value.numerator)
    places = _terminating_places(value.denominator)
    if places is not None and places <= EXACT_PLACES:
        return _decimal(value, places)
    return f"{value.numerator}/{value.denominator}"


def rounded(value: Fraction, places: int = SHOWN_PLACES) -> str:
    """`value` rounded to `places` decimals, without trailing zeros (`3.333333`, `1.5`)."""
    scaled = round(value * 10**places)
    text = _decimal(Fraction(scaled, 10**places), places)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _whole(n: int) -> str:
    return f"{n:,}" if abs(n) >= 10_000 else str(n)


def _terminating_places(denominator: int) -> int | None:
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def _decimal(value: Fraction, places: int) -> str:
    sign = "-" if value < 0 else ""
    scaled = abs(value) * 10**places
    whole, fraction = divmod(int(scaled), 10**places)
    if places == 0:
        return f"{sign}{_whole(whole)}"
    digits = str(fraction).rjust(places, "0").rstrip("0")
    return f"{sign}{_whole(whole)}.{digits}" if digits else f"{sign}{_whole(whole)}"
