"""Counting questions with one right answer: letters, a given letter, vowels, consonants, characters or
words in a quoted word or phrase; the sides of a named polygon; and a few calendar constants."""

from __future__ import annotations

import re
from collections.abc import Callable

ASKS_COUNT = re.compile(r"\bhow (?:many|often)\b|\bcount\b|\bnumber of\b")
QUOTED = re.compile(r"(?:^|(?<=[\s(:,]))(['\"])(?P<text>[^'\"]+?)\1(?=[\s?.!,:;)]|$)")
NAMED_WORD = re.compile(r"\bthe (?:word|name) (?P<text>[a-z][a-z'-]*)")
LAST_WORD = re.compile(r"\b(?:in|does|of) (?P<text>[a-z][a-z'-]*)\s*[?.!]?\s*(?:have|contain|has)?\s*[?.!]?$")
GENERIC = frozenset(
    {
        "word",
        "words",
        "sentence",
        "phrase",
        "name",
        "alphabet",
        "it",
        "this",
        "that",
        "english",
        "total",
        "all",
    }
)
NAMED_LETTER = re.compile(r"\bletters? ['\"]?(?P<letter>[a-z])['\"]?(?![a-z])")
TIMES_LETTER = re.compile(
    r"\bhow (?:many times|often) (?:does|do|is|will) (?:the letter )?['\"]?(?P<letter>[a-z])['\"]?"
    r" (?:appear|occur|show up|come up)"
)
PLURAL_LETTER = re.compile(r"\bhow many ['\"]?(?P<letter>[a-z])['\"]?(?:'s|s)(?![a-z])")
VOWELS = "aeiou"
POLYGONS = {
    "triangle": 3,
    "square": 4,
    "rectangle": 4,
    "quadrilateral": 4,
    "rhombus": 4,
    "parallelogram": 4,
    "trapezoid": 4,
    "trapezium": 4,
    "pentagon": 5,
    "hexagon": 6,
    "heptagon": 7,
    "octagon": 8,
    "nonagon": 9,
    "decagon": 10,
    "dodecagon": 12,
}
SIDES = re.compile(
    r"\bhow many (?P<part>sides|edges|corners|vertices|angles)"
    r" (?:does|do|has|have|are (?:there )?(?:in|on)|in|on)"
    rf" (?:a|an|the|every|each) (?:regular )?(?P<shape>{'|'.join(POLYGONS)})s?\b"
)
IN_A = r" (?:are |is )?(?:there )?in (?:a|an|one|the|each|every)"
CONSTANTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(rf"\bletters?{IN_A} (?:english |latin |modern english )?alphabet\b"),
        "The English alphabet has 26 letters.",
    ),
    (re.compile(rf"\bdays?{IN_A} leap year\b"), "A leap year has 366 days."),
    (
        re.compile(rf"\bdays?{IN_A} (?:common |normal |regular |non-leap |calendar )?year\b"),
        "A year has 365 days (a leap year has 366).",
    ),
    (
        re.compile(rf"\bweeks?{IN_A} (?:calendar )?year\b"),
        "A year has 52 weeks and 1 day (2 days in a leap year).",
    ),
    (
        re.compile(r"\bdays? (?:are |is )?(?:there )?in february\b"),
        "February has 28 days (29 in a leap year).",
    ),
)


def count(text: str) -> str | None:
    """The answer to a counting question in lower-cased `text`, as one sentence, or None."""
    if not ASKS_COUNT.search(text):
        return None
    for pattern, answer in CONSTANTS:
        if pattern.search(text):
            return answer
    sides = SIDES.search(text)
    if sides:
        shape, part = sides.group("shape"), sides.group("part")
        return f"A {shape} has {POLYGONS[shape]} {part}."
    return _count_in_text(text)


def _count_in_text(text: str) -> str | None:
    letter = NAMED_LETTER.search(text) or TIMES_LETTER.search(text) or PLURAL_LETTER.search(text)
    if letter is not None:
        target, _ = _target(text[letter.end() :])
        return None if target is None else _letter_count(letter.group("letter"), target)
    target, quoted = _target(text)
    if target is None:
        return None
    for word, counter in COUNTERS.items():
        if re.search(rf"\b{word}\b", text):
            return counter(target, quoted)
    return None


def _target(text: str) -> tuple[str | None, bool]:
    """The word or phrase to count in, and whether it was quoted."""
    quoted = QUOTED.search(text)
    if quoted:
        return quoted.group("text"), True
    for pattern in (NAMED_WORD, LAST_WORD):
        found = pattern.search(text)
        if found and found.group("text") not in GENERIC:
            return found.group("text").strip("'"), False
    return None, False


def _shown(target: str, quoted: bool) -> str:
    kind = "phrase" if " " in target.strip() else "word"
    return f"The {kind} '{target}'" if quoted or kind == "word" else f"'{target}'"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _letter_count(letter: str, target: str) -> str:
    n = target.lower().count(letter)
    return f"The letter '{letter}' appears {_plural(n, 'time')} in '{target}'."


def _letters(target: str, quoted: bool) -> str:
    n = sum(c.isalpha() for c in target)
    return f"{_shown(target, quoted)} has {_plural(n, 'letter')}."


def _vowels(target: str, quoted: bool) -> str:
    found = [c for c in target.lower() if c in VOWELS]
    listed = f" ({', '.join(found)})" if found else ""
    return f"{_shown(target, quoted)} has {_plural(len(found), 'vowel')}{listed}."


def _consonants(target: str, quoted: bool) -> str:
    n = sum(c.isalpha() and c.lower() not in VOWELS for c in target)
    return f"{_shown(target, quoted)} has {_plural(n, 'consonant')}."


def _characters(target: str, quoted: bool) -> str:
    spaces = " (counting spaces)" if " " in target else ""
    return f"{_shown(target, quoted)} has {_plural(len(target), 'character')}{spaces}."


def _words(target: str, quoted: bool) -> str:
    return f"{_shown(target, quoted)} has {_plural(len(target.split()), 'word')}."


COUNTERS: dict[str, Callable[[str, bool], str]] = {
    "letters": _letters,
    "vowels": _vowels,
    "consonants": _consonants,
    "characters": _characters,
    "words": _words,
}
