"""From a request to one short answer: counting, unit conversions, arithmetic in symbols or words, and
simple word problems, tried in that order. Nothing found is None, never a guess."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from .counting import count
from .evaluate import CalculationError, NotArithmetic, evaluate, format_number, parse, render, rounded
from .numbers import lowered, plain
from .phrases import PERCENT_QUESTION, find_expression
from .stories import story_expression
from .units import Converter

#: requests longer than this are not simple questions
MAX_REQUEST = 1000
NOT_FOUND = (
    "I could not find a calculation, a count or a unit conversion in that request, so I have no answer "
    "to give."
)


@dataclass(frozen=True)
class Answer:
    """One sentence; `computed` is False when a calculation was found but has no answer (division by
    zero, a number too large)."""

    text: str
    computed: bool = True


@cache
def converter() -> Converter:
    """The unit converter, built on first use."""
    return Converter()


@lru_cache(maxsize=512)
def solve(request: str) -> Answer | None:
    """The answer to `request`, or None when it holds nothing this plugin can compute."""
    if not request.strip() or len(request) > MAX_REQUEST:
        return None
    text = plain(request)
    sentence = count(lowered(request)) or converter().answer(text)
    if sentence is not None:
        return Answer(sentence)
    expression = find_expression(text) or story_expression(text)
    if expression is None:
        return None
    return arithmetic(expression, "%" if PERCENT_QUESTION.search(text) else "")


def arithmetic(expression: str, suffix: str = "") -> Answer | None:
    """`17 + 25 = 42.`; a calculation without an answer says why."""
    try:
        shown = render(parse(expression), expression)
    except NotArithmetic:
        return None
    try:
        result = evaluate(expression)
    except CalculationError as exc:
        return Answer(f"I cannot compute {shown}: {exc}.", computed=False)
    if result.approximate:
        return Answer(f"{shown} ≈ {rounded(result.value)}{suffix}.")
    exact = format_number(result.value)
    if "/" in exact:
        return Answer(f"{shown} = {exact} ≈ {rounded(result.value)}{suffix}.")
    return Answer(f"{shown} = {exact}{suffix}.")


def calculable(text: object) -> bool:
    """True when the text holds something this plugin computes (the condition `calculable($INPUT)`)."""
    return isinstance(text, str) and solve(text) is not None
