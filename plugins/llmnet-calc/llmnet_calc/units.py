"""Unit conversions with exact factors: length, mass, volume, time, calendar units, data and temperature.

"How many centimetres are in a metre?", "What is 2 kilometres in metres?", "convert 5 miles to km",
"0 degrees Celsius in Fahrenheit". Units whose size depends on the country (gallons and pints against
litres, cups) are converted only among themselves, where every system agrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .evaluate import format_number, rounded


@dataclass(frozen=True)
class Unit:
    """A unit: its dimension, its size in the dimension's base unit, and how it is written."""

    dimension: str
    factor: Fraction
    singular: str
    plural: str


#: dimension, size in the dimension's base unit, name, plural (None: name + s), other spellings
TABLE: tuple[tuple[str, str, str, str | None, tuple[str, ...]], ...] = (
    ("length", "1/1000", "millimetre", None, ("millimeter", "mm")),
    ("length", "1/100", "centimetre", None, ("centimeter", "cm")),
    ("length", "1/10", "decimetre", None, ("decimeter", "dm")),
    ("length", "1", "metre", None, ("meter", "m")),
    ("length", "1000", "kilometre", None, ("kilometer", "km", "kms")),
    ("length", "0.0254", "inch", "inches", ()),
    ("length", "0.3048", "foot", "feet", ("ft",)),
    ("length", "0.9144", "yard", None, ("yd", "yds")),
    ("length", "1609.344", "mile", None, ("mi",)),
    ("length", "1852", "nautical mile", None, ()),
    ("mass", "1/1000", "milligram", None, ("milligramme", "mg")),
    ("mass", "1", "gram", None, ("gramme", "g")),
    ("mass", "1000", "kilogram", None, ("kilogramme", "kilo", "kg", "kgs")),
    ("mass", "1000000", "tonne", None, ("metric ton",)),
    ("mass", "28.349523125", "ounce", None, ("oz",)),
    ("mass", "453.59237", "pound", None, ("lb", "lbs")),
    ("mass", "6350.29318", "stone", None, ()),
    (
        "volume",
        "1/1000",
        "millilitre",
        None,
        ("milliliter", "ml", "cubic centimetre", "cubic centimeter", "cc"),
    ),
    ("volume", "1/100", "centilitre", None, ("centiliter", "cl")),
    ("volume", "1/10", "decilitre", None, ("deciliter", "dl")),
    ("volume", "1", "litre", None, ("liter", "l")),
    ("volume", "1000", "cubic metre", None, ("cubic meter",)),
    ("liquid", "1", "pint", None, ("pt",)),
    ("liquid", "2", "quart", None, ("qt",)),
    ("liquid", "8", "gallon", None, ("gal",)),
    ("time", "1/1000", "millisecond", None, ("ms",)),
    ("time", "1", "second", None, ("sec", "secs")),
    ("time", "60", "minute", None, ("min", "mins")),
    ("time", "3600", "hour", None, ("hr", "hrs")),
    ("time", "86400", "day", None, ()),
    ("time", "604800", "week", None, ()),
    ("time", "1209600", "fortnight", None, ()),
    ("calendar", "1", "month", None, ()),
    ("calendar", "12", "year", None, ("yr", "yrs")),
    ("calendar", "120", "decade", None, ()),
    ("calendar", "1200", "century", "centuries", ()),
    ("calendar", "12000", "millennium", "millennia", ("millenniums",)),
    ("data", "1", "bit", None, ()),
    ("data", "4", "nibble", None, ()),
    ("data", "8", "byte", None, ()),
)


def _units() -> dict[str, tuple[Unit, tuple[str, ...]]]:
    """Each unit by its name, with the other spellings that name it."""
    units = {}
    for dimension, factor, name, plural, others in TABLE:
        unit = Unit(dimension, Fraction(factor), name, plural or f"{name}s")
        units[name] = (unit, others)
    return units


TEMPERATURES = {"celsius": "°C", "fahrenheit": "°F", "kelvin": "K"}
TEMPERATURE_NAMES = {"centigrade": "celsius", "c": "celsius", "f": "fahrenheit", "k": "kelvin"}
_DEGREES = re.compile(r"(?:\bdegrees?\s+|°\s*|º\s*)(?=celsius|centigrade|fahrenheit|kelvin|[cfk]\b)")
_NUMBER = r"(?P<n>-?\d+(?:\.\d+)?)"


def _spellings() -> dict[str, str]:
    """Every written form of a unit (lower case, plural included) → the unit's name."""
    names: dict[str, str] = {}
    for name, (unit, others) in _units().items():
        for form in (name, unit.plural, *others, *(f"{o}s" for o in others if len(o) > 3)):
            names.setdefault(form, name)
    for name in TEMPERATURES:
        names[name] = name
    names.update(TEMPERATURE_NAMES)
    return names


def _unit_pattern(spellings: dict[str, str]) -> str:
    forms = sorted(spellings, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(f) for f in forms) + r")(?![a-z])"


class Converter:
    """Finds a conversion in a question and answers it; built once, on first use."""

    def __init__(self) -> None:
        self.units = {name: unit for name, (unit, _) in _units().items()}
        self.spellings = _spellings()
        unit = _unit_pattern(self.spellings)
        amount = rf"(?:a|an|one|each|every|{_NUMBER})"
        self.how_many = re.compile(
            rf"\bhow many (?P<to>{unit}) (?:(?:are|is|make|make up|go|fit|there) )*"
            rf"(?:(?:in|per|into|to|make|makes|equal) )?(?:there )?{amount} (?P<from>{unit})"
        )
        self.convert = re.compile(
            rf"(?<![\w.]){_NUMBER}\s*(?P<from>{unit})\s*(?:(?:is|are|equals?|in|to|into|as|=) )+"
            rf"(?:how many |what (?:in )?)?(?P<to>{unit})"
        )

    def answer(self, text: str) -> str | None:
        """The conversion `text` asks for, as one sentence, or None."""
        text = _halves(_DEGREES.sub("", text))
        for pattern in (self.how_many, self.convert):
            found = pattern.search(text)
            if found:
                amount = Fraction(found.group("n")) if found.group("n") else Fraction(1)
                return self._sentence(amount, found.group("from"), found.group("to"))
        return None

    def _sentence(self, amount: Fraction, source: str, target: str) -> str | None:
        source, target = self.spellings[source], self.spellings[target]
        if source == target:
            return None
        if source in TEMPERATURES or target in TEMPERATURES:
            return _temperature(amount, source, target)
        a, b = self.units[source], self.units[target]
        if a.dimension != b.dimension:
            return None
        result = amount * a.factor / b.factor
        return f"{_amount(amount, a)} = {_amount(result, b)}."


_AND_A_HALF = re.compile(
    r"\b(?P<n>a|an|one|\d+(?:\.\d+)?) (?P<unit>[a-z]+) and a half\b"
    r"|\b(?P<n2>\d+(?:\.\d+)?) and a half (?P<unit2>[a-z]+)"
)
_HALF_A = re.compile(r"\bhalf an? (?P<unit>[a-z]+)")


def _halves(text: str) -> str:
    """ "an hour and a half" → "1.5 hour", "half a day" → "0.5 day"."""

    def and_a_half(match: re.Match[str]) -> str:
        whole, unit = match.group("n") or match.group("n2"), match.group("unit") or match.group("unit2")
        number = Fraction(1) if whole in ("a", "an", "one") else Fraction(whole)
        return f"{format_number(number + Fraction(1, 2))} {unit}"

    text = _AND_A_HALF.sub(and_a_half, text)
    return _HALF_A.sub(lambda m: f"0.5 {m.group('unit')}", text)


def _temperature(amount: Fraction, source: str, target: str) -> str | None:
    if source not in TEMPERATURES or target not in TEMPERATURES:
        return None
    kelvin = {
        "celsius": lambda t: t + Fraction("273.15"),
        "fahrenheit": lambda t: (t - 32) * Fraction(5, 9) + Fraction("273.15"),
        "kelvin": lambda t: t,
    }[source](amount)
    result = {
        "celsius": lambda k: k - Fraction("273.15"),
        "fahrenheit": lambda k: (k - Fraction("273.15")) * Fraction(9, 5) + 32,
        "kelvin": lambda k: k,
    }[target](kelvin)
    if kelvin < 0:
        return None
    return f"{_value(amount)} {TEMPERATURES[source]} = {_value(result)} {TEMPERATURES[target]}."


def _amount(value: Fraction, unit: Unit) -> str:
    return f"{_value(value)} {unit.singular if value == 1 else unit.plural}"


def _value(value: Fraction) -> str:
    shown = format_number(value)
    return f"about {rounded(value)}" if "/" in shown else shown
