"""Simple word problems: "I have 3 apples and buy 5 more", "12 cookies shared among 4 friends", "4 boxes of
6 pencils", "a book costs 12 and I pay with 20, how much change". Each is written as an expression over
the numbers in the order they appear; a problem whose operations cannot all be told is not guessed at."""

from __future__ import annotations

import re
from fractions import Fraction

NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_NUMBERS = 6
#: the request asks for a quantity
QUESTION = re.compile(
    r"\bhow (?:many|much|old|far|long)\b|\b(?:in total|altogether|all together|total|left|remain\w*)\b"
)
CHANGE = re.compile(r"\bchange\b")
PAYING = re.compile(r"\b(?:pay|pays|paid|paying|bill|note|hand over|hands over|give|gives|gave)\b")
SHARING = re.compile(
    r"\b(?:share[ds]?|sharing|split|splits|divide[ds]?|distribute[ds]?)\b.*"
    r"\b(?:equally|evenly|between|among|amongst|into)\b"
    r"|\beach (?:\w+ )?gets?\b|\bper (?:person|child|friend)\b"
)
RATE = re.compile(r"\b(?:each|per|every|apiece|a piece)\b|\d (?:\w+ )?of \d")
CONTAINER = re.compile(r"\b(?:per|in each|each|every) (?P<noun>[a-z]+)")
ASKED_NOUN = re.compile(r"\bhow many (?P<noun>[a-z]+)")
COMPARISON = re.compile(r"\bhow (?:many|much) (?:more|fewer|less)\b|\bdifference\b")
TOGETHER = re.compile(r"\b(?:in total|altogether|all together|together|combined|total|in all|sum)\b")

ADDING = re.compile(
    r"\b(?:more|another|buys?|bought|gets?|got|finds?|found|receives?|received|gives? me|gave me|given"
    r"|adds?|added|joins?|joined|arrives?|arrived|comes?|came|picks?|picked|wins?|won|earns?|earned"
    r"|collects?|collected|gains?|gained|grows?|grew|plus|will (?:\w+ )?be in|from now|later)\b"
)
TAKING = re.compile(
    r"\b(?:eats?|ate|eaten|gives? away|gave away|give|gives|gave|loses?|lost|spends?|spent|sells?|sold"
    r"|uses?|used|breaks?|broke|broken|leaves?|flies away|flew away|fly away|drops?|dropped"
    r"|takes? away|took(?: away)?|removes?|removed|fewer|less|minus|pops?|popped|throws? away|threw away"
    r"|drinks?|drank|lends?|lent|donates?|donated|missing|ago)\b"
)


def story_expression(text: str) -> str | None:
    """The expression a word problem in plain `text` asks for, or None when it is not one we can read."""
    numbers = list(NUMBER.finditer(text))
    if not 2 <= len(numbers) <= MAX_NUMBERS or not QUESTION.search(text):
        return None
    values = [m.group(0) for m in numbers]
    if len(values) == 2:
        pair = _pair(text, values)
        if pair is not None:
            return pair
    return _running_total(text, numbers)


def _pair(text: str, values: list[str]) -> str | None:
    """Problems about exactly two numbers: change, sharing, rates, comparisons."""
    big, small = sorted(values, key=Fraction, reverse=True)
    if CHANGE.search(text) and PAYING.search(text):
        return f"{big} - {small}"
    if SHARING.search(text):
        return f"{big} / {small}"
    if COMPARISON.search(text):
        return f"{big} - {small}"
    if RATE.search(text):
        return f"{big} / {small}" if _asks_for_containers(text) else f"{values[0]} * {values[1]}"
    return None


def _asks_for_containers(text: str) -> bool:
    """True for "3 per bag ... how many bags": the question counts the groups, so it divides."""
    container, asked = CONTAINER.search(text), ASKED_NOUN.search(text)
    if container is None or asked is None:
        return False
    noun = container.group("noun").rstrip("s")
    return len(noun) > 2 and asked.group("noun").rstrip("s").startswith(noun)


def _running_total(text: str, numbers: list[re.Match[str]]) -> str | None:
    """Each number after the first is added or taken away, as the words just before or after it say."""
    parts = [numbers[0].group(0)]
    taking_anywhere = False
    for i, number in enumerate(numbers[1:], start=1):
        before = text[numbers[i - 1].end() : number.start()]
        after_end = numbers[i + 1].start() if i + 1 < len(numbers) else len(text)
        after = " ".join(text[number.end() : after_end].split()[:3])
        sign = _sign(before, after)
        if sign is None:
            if not TOGETHER.search(text):
                return None
            sign = "+"
        taking_anywhere = taking_anywhere or sign == "-"
        parts.append(f"{sign} {number.group(0)}")
    if taking_anywhere and TOGETHER.search(text) and not re.search(r"\b(?:left|remain\w*)\b", text):
        return None
    return " ".join(parts)


def _sign(before: str, after: str) -> str | None:
    """`+` or `-`: the last cue between the previous number and this one, else the first cue after it
    ("8 birds on a tree; 3 fly away")."""
    cues = _cues(before)
    if cues:
        return max(cues)[2]
    cues = _cues(after)
    return min(cues, key=lambda cue: (cue[0], -cue[1]))[2] if cues else None


def _cues(window: str) -> list[tuple[int, int, str]]:
    """(position, length, sign) of every cue in `window`; at one position the longer cue sorts last."""
    found = [(m.start(), len(m.group(0)), "+") for m in ADDING.finditer(window)]
    return found + [(m.start(), len(m.group(0)), "-") for m in TAKING.finditer(window)]
