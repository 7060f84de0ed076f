"""The safe evaluator: exact values, refused syntax, bounds, and how expressions and numbers are written."""

from __future__ import annotations

from fractions import Fraction

import pytest
from llmnet_calc.evaluate import (
    NotArithmetic,
    TooLarge,
    Undefined,
    evaluate,
    format_number,
    parse,
    render,
    rounded,
)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 + 25", 42),
        ("93 - 58", 35),
        ("12 * 11", 132),
        ("144 / 12", 12),
        ("7 // 2", 3),
        ("17 % 5", 2),
        ("2 ** 10", 1024),
        ("(3 + 4) * 2", 14),
        ("-5 + 3", -2),
        ("-3 * -4", 12),
        ("0.1 + 0.2", Fraction(3, 10)),
        ("2.5 * 4", 10),
        ("10 / 4", Fraction(5, 2)),
        ("1_000 + 1", 1001),
        ("2 ** -2", Fraction(1, 4)),
        ("81 ** (1 / 2)", 9),
        ("(8 / 27) ** (1 / 3)", Fraction(2, 3)),
        ("-8 ** (1 / 3)", -2),
        ("1 ** 99999", 1),
    ],
)
def test_exact_values(expression: str, value: Fraction | int):
    result = evaluate(expression)
    assert result.value == value and not result.approximate


def test_an_irrational_root_is_marked_approximate():
    result = evaluate("2 ** (1 / 2)")
    assert result.approximate and rounded(result.value) == "1.414214"


@pytest.mark.parametrize(
    "expression", ["5 / 0", "5 // 0", "5 % 0", "0 ** -1", "1 / (3 - 3)", "(-4) ** (1 / 2)"]
)
def test_undefined(expression: str):
    with pytest.raises(Undefined):
        evaluate(expression)


@pytest.mark.parametrize(
    "expression", ["2 ** 100000", "9 ** 9 ** 9", "10 ** 2000", "2 ** (1 / 50)", "1" + "0" * 70, "7 ** 5000"]
)
def test_sizes_are_bounded(expression: str):
    with pytest.raises(TooLarge):
        evaluate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "x + 1",
        "abs(-3)",
        "(1).real",
        "[1, 2]",
        "1 if 1 else 2",
        "True + 1",
        "3 < 4",
        "1 & 3",
        "1j * 2",
        "'a' * 3",
        "lambda: 1",
        "1 + ",
        "",
        "1 + " * 100 + "1",
    ],
)
def test_anything_but_numbers_and_operators_is_refused(expression: str):
    with pytest.raises(NotArithmetic):
        evaluate(expression)


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("17 + 25", "17 + 25"),
        ("12 * 11", "12 × 11"),
        ("(3 + 4) * 2", "(3 + 4) × 2"),
        ("10 - (4 - 1)", "10 - (4 - 1)"),
        ("2 ** 10", "2^10"),
        ("(-2) ** 2", "(-2)^2"),
        ("(15 / 100 * 200)", "15% of 200"),
        ("((81) ** (1 / 2))", "√81"),
        ("27 ** (1 / 3)", "∛27"),
        ("17 % 5", "17 mod 5"),
        ("20000 + 1", "20,000 + 1"),
    ],
)
def test_render(expression: str, shown: str):
    assert render(parse(expression), expression) == shown


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(42), "42"),
        (Fraction(-7), "-7"),
        (Fraction(9999), "9999"),
        (Fraction(12500), "12,500"),
        (Fraction(3, 4), "0.75"),
        (Fraction(-7, 2), "-3.5"),
        (Fraction(10, 3), "10/3"),
        (Fraction(1, 1024), "0.0009765625"),
    ],
)
def test_format_number(value: Fraction, text: str):
    assert format_number(value) == text


def test_rounded_drops_trailing_zeros():
    assert rounded(Fraction(10, 3)) == "3.333333"
    assert rounded(Fraction(3, 2)) == "1.5"
    assert rounded(Fraction(-2, 3)) == "-0.666667"
