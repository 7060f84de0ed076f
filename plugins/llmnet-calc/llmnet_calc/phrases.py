"""Arithmetic written in words ("12 times 7", "divide 144 by 12", "15% of 80", "the square root of 81")
rewritten as an expression `evaluate` accepts, and the expression found in the rewritten text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .evaluate import NotArithmetic, parse

#: a number, never begun inside another (possessive: a long run of digits is read once)
NUM = r"(?<![\d.])-?\d++(?:\.\d++)?"
#: an operand: a number, or a group in parentheses (one level of nesting) that an earlier rewrite made
OPERAND = rf"(?:{NUM}|\((?:[^()]|\([^()]*\))*\))"
A, B = rf"(?P<a>{OPERAND})", rf"(?P<b>{OPERAND})"
THE = r"(?:the )?"
PERCENT = r"\s*(?:%|percent\b|per cent\b)"
FRACTIONS = {
    "half": 2,
    "halves": 2,
    "third": 3,
    "thirds": 3,
    "quarter": 4,
    "quarters": 4,
    "fourth": 4,
    "fourths": 4,
    "fifth": 5,
    "fifths": 5,
    "sixth": 6,
    "sixths": 6,
    "eighth": 8,
    "eighths": 8,
    "tenth": 10,
    "tenths": 10,
    "hundredth": 100,
    "hundredths": 100,
}
_FRACTION_WORD = "|".join(sorted(FRACTIONS, key=len, reverse=True))


@dataclass(frozen=True)
class Rewrite:
    """A phrase and the expression it stands for: a format string of the phrase's groups, or a function
    of the match."""

    pattern: re.Pattern[str]
    template: str | Callable[[re.Match[str]], str]


def _rule(pattern: str, template: str | Callable[[re.Match[str]], str]) -> Rewrite:
    return Rewrite(re.compile(pattern), template)


#: two or more numbers: "3, 4 and 5", "12 and 30"
LIST = rf"(?P<list>{NUM}(?:(?:,\s*|,? and\s+){NUM})+)"


def _listed(match: re.Match[str]) -> list[str]:
    return re.findall(NUM, match.group("list"))


def _sum(match: re.Match[str]) -> str:
    return "(" + " + ".join(_listed(match)) + ")"


def _product(match: re.Match[str]) -> str:
    return "(" + " * ".join(_listed(match)) + ")"


def _mean(match: re.Match[str]) -> str:
    numbers = _listed(match)
    return f"(({' + '.join(numbers)}) / {len(numbers)})"


#: phrases that name an operation before its operands, or that a symbol cannot write, in the order tried
PHRASES = (
    _rule(rf"what (?:percent|percentage) of {B} is {A}", "({a} * 100 / {b})"),
    _rule(rf"{A} is what (?:percent|percentage) of {B}", "({a} * 100 / {b})"),
    _rule(rf"(?:increase|raise) {A} by {B}{PERCENT}", "({a} * (1 + {b} / 100))"),
    _rule(rf"(?:decrease|reduce|lower|discount) {A} by {B}{PERCENT}", "({a} * (1 - {b} / 100))"),
    _rule(rf"{A}{PERCENT} off {THE}{B}", "({b} * (1 - {a} / 100))"),
    _rule(rf"{A} (?:and )?(?:is |with |at )?(?:a )?{B}{PERCENT} (?:off|discount)", "({a} * (1 - {b} / 100))"),
    _rule(rf"{A} \+ {B}{PERCENT}(?! of)", "({a} * (1 + {b} / 100))"),
    _rule(rf"{A} - {B}{PERCENT}(?! of)", "({a} * (1 - {b} / 100))"),
    _rule(rf"{A}{PERCENT} of {B}", "({a} / 100 * {b})"),
    _rule(rf"(?P<a>\d+) ?/ ?(?P<d>\d+) of {B}", "({a} / {d} * {b})"),
    _rule(rf"(?:1|a|an|one) (?P<f>{_FRACTION_WORD}) of {B}", "({b} / {f})"),
    _rule(rf"(?<![\d.])half (?:of )?{B}", "({b} / 2)"),
    _rule(rf"{A} (?P<f>{_FRACTION_WORD}) of {B}", "({a} * {b} / {f})"),
    _rule(rf"(?:double|twice) {B}", "(2 * {b})"),
    _rule(rf"(?:triple|thrice) {B}", "(3 * {b})"),
    _rule(rf"(?:{THE}square root of |sqrt\s*|√\s*){B}", "(({b}) ** (1 / 2))"),
    _rule(rf"(?:{THE}cube root of |∛\s*){B}", "(({b}) ** (1 / 3))"),
    _rule(rf"{A} squared", "(({a}) ** 2)"),
    _rule(rf"{A} cubed", "(({a}) ** 3)"),
    _rule(rf"{A} to the (?:power of )?{B}(?:st|nd|rd|th)?(?: power)?", "(({a}) ** {b})"),
    _rule(rf"{A} raised to (?:the (?:power of )?)?{B}(?:st|nd|rd|th)?(?: power)?", "(({a}) ** {b})"),
    _rule(rf"{THE}(?:sum|total) of {LIST}", _sum),
    _rule(rf"{THE}product of {LIST}", _product),
    _rule(rf"{THE}(?:average|mean|arithmetic mean) of {LIST}", _mean),
    _rule(rf"{THE}difference (?:between|of) {A} and {B}", "({a} - {b})"),
    _rule(rf"{THE}quotient of {A} and {B}", "({a} / {b})"),
    _rule(rf"{THE}remainder (?:of|when|after) {A} (?:is )?divided by {B}", "({a} % {b})"),
    _rule(rf"add {A} (?:and|to|plus) {B}", "({a} + {b})"),
    _rule(rf"subtract {A} from {B}", "({b} - {a})"),
    _rule(rf"take (?:away )?{A} (?:away )?from {B}", "({b} - {a})"),
    _rule(rf"multiply {A} (?:by|and|with|times) {B}", "({a} * {b})"),
    _rule(rf"divide {A} by {B}", "({a} / {b})"),
    _rule(rf"{A} (?:less|fewer) than {B}", "({b} - {a})"),
    _rule(rf"{A} more than {B}", "({b} + {a})"),
)

#: operator words written between two operands
INFIX = (
    (r"plus|added to|increased by", "+"),
    (r"minus|take away|less|decreased by|subtract", "-"),
    (r"times|multiplied by|multiplied with|x|\*", "*"),
    (r"divided by|over|divided with", "/"),
    (r"mod|modulo", "%"),
    (r"\^", "**"),
)
_LEFT, _RIGHT = r"(?<=[\d)]),?\s*", r"\s*(?=[-\d(])"
_INFIX = tuple((re.compile(rf"{_LEFT}(?:{words}){_RIGHT}"), f" {symbol} ") for words, symbol in INFIX)
_UNARY = re.compile(r"\b(?:negative|minus)\s+(?=\d)")
_TERM = r"[-(\s]*(?<![\d.])\d++(?:\.\d++)?[\s)]*"
_OPERATOR = r"(?:\*\*|//|[-+*/%])"
_SPAN = re.compile(rf"{_TERM}(?:{_OPERATOR}{_TERM})+")
_DASHED = re.compile(r"\d+(?:-\d+)+")
_ASKED = re.compile(r"\b(?:what is|what's|whats|calculate|compute|evaluate|solve|work out|how much is)\b|=")
#: a letter standing for an unknown next to an operator or a number (`x^2 - 5x`, `3x + 7 = 22`), a
#: factorial, or a series that goes on (`1/2 + 1/4 + ...`): algebra or more, not arithmetic to compute
_BEYOND = re.compile(
    r"(?<![a-z'])[a-z]\s*(?:\*\*|[-+*/^=<>])(?!\s*[a-z]{2})|(?:\*\*|[-+*/^=<>])\s*[a-z](?![a-z'])"
    r"|\d[a-z](?![a-z])|\d\s*!|\.\.\.|…"
)
#: a question whose answer is a percentage
PERCENT_QUESTION = re.compile(r"what (?:percent|percentage)")


def rewrite(text: str) -> str:
    """Plain text with its arithmetic phrases replaced by expressions, innermost first."""
    text = _UNARY.sub("-", text)
    for _ in range(6):
        before = text
        for infix, symbol in _INFIX:
            text = infix.sub(symbol, text)
        for rule in PHRASES:
            template = rule.template
            text = rule.pattern.sub(template if callable(template) else _filled(template), text)
        if text == before:
            break
    return text


def _filled(template: str):
    def fill(match: re.Match[str]) -> str:
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        if "f" in groups:
            groups["f"] = str(FRACTIONS[groups["f"]])
        return template.format(**groups)

    return fill


def find_expression(text: str) -> str | None:
    """The arithmetic expression in plain `text` (the longest that parses), or None."""
    rewritten = rewrite(text)
    if _BEYOND.search(rewritten):
        return None
    spans = sorted((m.group(0).strip() for m in _SPAN.finditer(rewritten)), key=len, reverse=True)
    for span in spans:
        if re.search(re.escape(span) + PERCENT, rewritten):
            continue
        candidate = _balanced(span)
        if candidate is None or (_DASHED.fullmatch(candidate) and not _ASKED.search(text)):
            continue
        try:
            parse(candidate)
        except NotArithmetic:
            continue
        return candidate
    return None


def _balanced(span: str) -> str | None:
    """`span` with unmatched parentheses at its ends dropped; None when they cannot be matched."""
    while span.count("(") > span.count(")") and span.startswith("("):
        span = span[1:].strip()
    while span.count(")") > span.count("(") and span.endswith(")"):
        span = span[:-1].strip()
    return span if span.count("(") == span.count(")") and span else None
