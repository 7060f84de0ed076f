"""Numbers in a request: operator symbols made plain, thousands separators and currency signs removed, and
number words ("twenty-five", "a hundred and five", "a dozen") turned into digits."""

from __future__ import annotations

import re

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}

_SYMBOLS = str.maketrans(
    {
        "×": "*",
        "✕": "*",
        "✖": "*",
        "⋅": "*",
        "·": "*",
        "÷": "/",
        "∕": "/",
        "−": "-",
        "–": "-",
        "—": " - ",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "²": "**2",
        "³": "**3",
        "\u00a0": " ",
    }
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CURRENCY = re.compile(
    r"[$€£¥](?=\s*\d)|(?<=\d)\s*(?:[$€£¥]|dollars?\b|euros?\b|pounds? sterling\b|cents?\b)"
)
_WORD = re.compile(r"[a-z]+")


def lowered(text: str) -> str:
    """Lower-case text with operator symbols as Python writes them and plain quotes; words kept."""
    return re.sub(r"\s+", " ", text.translate(_SYMBOLS).lower()).strip()


def plain(text: str) -> str:
    """`lowered` text with number words as digits, without thousands separators or currency signs."""
    text = lowered(text)
    text = _THOUSANDS.sub("", text)
    text = _CURRENCY.sub("", text)
    return re.sub(r"\s+", " ", spell_out_digits(text)).strip()


def spell_out_digits(text: str) -> str:
    """`text` with each run of number words ("twenty-five", "a dozen") replaced by its digits."""
    words = list(_WORD.finditer(text))
    pieces, position, i = [], 0, 0
    while i < len(words):
        parsed = _number(words, i, text)
        if parsed is None:
            i += 1
            continue
        value, end = parsed
        pieces += [text[position : words[i].start()], str(value)]
        position, i = words[end - 1].end(), end
    pieces.append(text[position:])
    return "".join(pieces)


class _Words:
    """Number words from position `i`, joined by spaces or hyphens only."""

    def __init__(self, words: list[re.Match[str]], i: int, text: str) -> None:
        self.words, self.i, self.start, self.text = words, i, i, text

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        if j >= len(self.words) or (j > self.start and not self._joined(j)):
            return None
        return self.words[j].group(0)

    def _joined(self, j: int) -> bool:
        between = self.text[self.words[j - 1].end() : self.words[j].start()]
        return bool(re.fullmatch(r"[\s-]+", between))


def _number(words: list[re.Match[str]], i: int, text: str) -> tuple[int, int] | None:
    """The number spelt from word `i`, and the index after it; None when no number starts there."""
    reader = _Words(words, i, text)
    if reader.peek() in ("a", "an"):
        following = reader.peek(1)
        if following == "dozen":
            return 12, i + 2
        if following == "hundred":
            reader.i += 2
            return _continue(reader, 100, "hundred")
        if following in SCALES:
            reader.i += 1
            return _continue(reader, 1, "")
        return None
    group = _below_thousand(reader)
    if group is None:
        return None
    return _continue(reader, group, "")


def _continue(reader: _Words, value: int, last: str) -> tuple[int, int]:
    """After a group: `dozen`, then scales in decreasing order, each followed by another group."""
    if last == "hundred":
        rest = _after_hundred(reader)
        value += rest or 0
    if reader.peek() == "dozen" and last not in SCALES:
        reader.i += 1
        return value * 12, reader.i
    total, smallest = 0, None
    while (word := reader.peek()) in SCALES and (smallest is None or SCALES[word] < smallest):
        smallest = SCALES[word]
        reader.i += 1
        total += (value or 1) * smallest
        value = 0
        saved = reader.i
        if reader.peek() == "and":
            reader.i += 1
        group = _below_thousand(reader)
        if group is None:
            reader.i = saved
            break
        value = group
    return total + value, reader.i


def _below_thousand(reader: _Words) -> int | None:
    """`seven`, `forty-two`, `three hundred and six`: a number under 1,000, or None."""
    word = reader.peek()
    value = None
    if word in UNITS and 0 < UNITS[word] < 10 and reader.peek(1) == "hundred":
        reader.i += 2
        value = UNITS[word] * 100
        return value + (_after_hundred(reader) or 0)
    return _below_hundred(reader)


def _after_hundred(reader: _Words) -> int | None:
    saved = reader.i
    if reader.peek() == "and":
        reader.i += 1
    rest = _below_hundred(reader)
    if rest is None:
        reader.i = saved
    return rest


def _below_hundred(reader: _Words) -> int | None:
    word = reader.peek()
    if word in UNITS:
        reader.i += 1
        return UNITS[word]
    if word in TENS:
        reader.i += 1
        unit = reader.peek()
        if unit in UNITS and 0 < UNITS[unit] < 10:
            reader.i += 1
            return TENS[word] + UNITS[unit]
        return TENS[word]
    return None
