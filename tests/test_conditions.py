"""Tests of the `if` expression language: parsing, evaluation, error positions and function calls."""

from __future__ import annotations

import operator
from typing import Any

import pytest

from llmnet_core.conditions import Condition, parse_condition
from llmnet_core.errors import ConditionError, ConditionSyntaxError

VARS: dict[str, Any] = {
    "WORD_COUNT": "12",
    "HOP_COUNT": 3,
    "ROUTE_DECISION": "technical",
    "NODE": "tech-support",
    "EMPTY": "",
    "NONE": None,
    "FLOAT": "12.0",
    "NEG": "-4",
    "TEXT": "hello world",
    "FLAG": "True",
    "QUOTE": 'say "hi"',
    "ZERO": 0,
    "FALSE": False,
    "LIST": [],
}


def holds(
    text: str, variables: dict[str, Any] | None = None, functions: dict[str, Any] | None = None
) -> bool:
    return parse_condition(text).evaluate(VARS if variables is None else variables, functions or {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a variable alone: present and non-empty
        ("$WORD_COUNT", True),
        ("$EMPTY", False),
        ("$NONE", False),
        ("$MISSING", False),
        ("$ZERO", True),
        ("$FALSE", False),
        ("$LIST", False),
        ("($TEXT)", True),
        # literals alone
        ("true", True),
        ("false", False),
        ("TRUE", True),
        ("'x'", True),
        ("''", False),
        ("0", False),
        ("1", True),
        ("word", True),
        # numeric comparisons when both sides are numbers
        ("$WORD_COUNT < 20", True),
        ("$WORD_COUNT > 9", True),  # numeric, although "12" > "9" is false as text
        ("$WORD_COUNT == 12", True),
        ("$WORD_COUNT == 12.0", True),
        ("$WORD_COUNT == $FLOAT", True),
        ("$WORD_COUNT != $FLOAT", False),
        ("$WORD_COUNT <= 12", True),
        ("$WORD_COUNT >= 12.5", False),
        ("$WORD_COUNT >= 12", True),
        ("$HOP_COUNT < 10", True),
        ("$HOP_COUNT == '3'", True),
        ("$NEG < -3", True),
        ("$NEG < -4.5", False),
        ("-1 < 0", True),
        ("1e3 == 1000", True),
        (".5 == 0.5", True),
        ("$ZERO == 0", True),
        # string comparisons otherwise
        ("$ROUTE_DECISION == 'technical'", True),
        ('$ROUTE_DECISION == "technical"', True),
        ("$ROUTE_DECISION == technical", True),  # bare word, as old files write it
        ("$ROUTE_DECISION != technical", False),
        ("$ROUTE_DECISION == Technical", False),  # case matters
        ("$ROUTE_DECISION != sales", True),
        ("$NODE == tech-support", True),
        ("$TEXT == 'hello world'", True),
        ("$WORD_COUNT == twelve", False),
        ("$WORD_COUNT != twelve", True),
        # ordering of non-numbers is false, both ways
        ("$ROUTE_DECISION < 'z'", False),
        ("$ROUTE_DECISION > 'a'", False),
        ("$ROUTE_DECISION >= 5", False),
        ("$ROUTE_DECISION <= 5", False),
        # booleans compare as true/false, ignoring case
        ("$FLAG == true", True),
        ("$FLAG != false", True),
        ("true == 'true'", True),
        ("true == 1", False),
        # a missing variable makes every comparison false, != included
        ("$MISSING == ''", False),
        ("$MISSING != 'x'", False),
        ("$NONE != 'x'", False),
        ("$MISSING < 10", False),
        ("$MISSING >= 10", False),
        ("10 > $MISSING", False),
        ("$MISSING == $ALSO_MISSING", False),
        ("not $MISSING == 'x'", True),
        ("$EMPTY == ''", True),
        ("$EMPTY != 'x'", True),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$A or $B and $C", True),  # or binds loosest: $A or ($B and $C)
        ("($A or $B) and $C", False),
        ("$C and $B or $A", True),
        ("$C and ($B or $A)", False),
        ("not $C and $A", True),  # (not $C) and $A
        ("not ($C and $A)", True),
        ("not $A or $A", True),  # (not $A) or $A
        ("not ($A or $A)", False),
        ("not $A == 'x'", True),  # not ($A == 'x')
        ("not not $A", True),
        ("!!$A", True),
        ("$A == 'x' or $B == '1'", True),
        ("$A == 'x' or $B == 'y'", False),
        ("$A == '1' and $B == '1'", True),
        ("$A == '1' && $B == '1'", True),
        ("$A == '1' && $C", False),
        ("$C || $A", True),
        ("$C || $C || $B", True),
        ("!$C", True),
        ("! $A", False),
        ("!($A == '1') || $C", False),
        ("$A==1&&$B==1", True),
        ("$A AND $B", True),
        ("$C OR NOT $C", True),
        ("(($A))", True),
        ("($A == 1) == true", True),
        ("($C or $A) == ($A and $B)", True),
    ],
)
def test_precedence_and_spellings(text: str, expected: bool) -> None:
    assert holds(text, {"A": "1", "B": "1", "C": ""}) is expected


def test_and_or_short_circuit() -> None:
    calls: list[str] = []

    def record(name: str) -> bool:
        calls.append(name)
        return True

    assert holds("$MISSING and record('a')", {}, {"record": record}) is False
    assert holds("$X or record('b')", {"X": "1"}, {"record": record}) is True
    assert holds("record('c') and record('d')", {}, {"record": record}) is True
    assert calls == ["c", "d"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'tab\there'", "tab\there"),
        (r"'line\nbreak'", "line\nbreak"),
        (r"'\d+'", r"\d+"),  # unknown escapes stay, so regular expressions survive
        ('"single \' inside"', "single ' inside"),
        ("'double \" inside'", 'double " inside'),
        ("'  spaced  '", "  spaced  "),
        ("'and'", "and"),
        ("'ünïcode'", "ünïcode"),
        ("café", "café"),
        ("gpt-4.1", "gpt-4.1"),
    ],
)
def test_string_literals(text: str, expected: str) -> None:
    seen: list[Any] = []
    assert holds(f"echo({text})", {}, {"echo": lambda v: seen.append(v) or True}) is True
    assert seen == [expected]


def test_quoted_values_compare_exactly() -> None:
    assert holds(r'$QUOTE == "say \"hi\""') is True
    assert holds(r"$QUOTE == 'say \"hi\"'") is True


@pytest.mark.parametrize(
    ("text", "expected_args"),
    [
        ("f()", []),
        ("f($TEXT)", ["hello world"]),
        ("f($MISSING)", [None]),
        ("f($HOP_COUNT, 2, 2.5, -1)", [3, 2, 2.5, -1]),
        ("f('a', \"b\", bare, true, false)", ["a", "b", "bare", True, False]),
        ("f($HOP_COUNT > 2, not $EMPTY, $EMPTY or $TEXT)", [True, True, True]),
        ("f(f('x'))", ["x"]),
    ],
)
def test_function_arguments(text: str, expected_args: list[Any]) -> None:
    received: list[list[Any]] = []

    def f(*args: Any) -> Any:
        received.append(list(args))
        return args[0] if args else True

    holds(text, VARS, {"f": f})
    assert received[-1] == expected_args


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size($TEXT) > 5", True),
        ("size($TEXT) == 11", True),
        ("size($TEXT) == '11'", True),
        ("size($TEXT) < 5", False),
        ("size($TEXT)", True),
        ("size($EMPTY)", False),  # a function result stands alone by truthiness
        ("nothing()", False),
        ("nothing() == ''", False),  # None from a function counts as missing
        ("nothing() != ''", False),
        ("lower($ROUTE_DECISION) == 'technical'", True),
        ("lower(UPPER) == upper", True),
        ("yes() and not no()", True),
        ("no() or yes()", True),
        ("yes() == true", True),
        ("snake_case-name.v2('x')", True),
        ("size('x')  ==  1", True),
        ("size ('x') == 1", True),
    ],
)
def test_function_results(text: str, expected: bool) -> None:
    functions = {
        "size": len,
        "nothing": lambda: None,
        "lower": lambda v: v.lower(),
        "yes": lambda: True,
        "no": lambda: False,
        "snake_case-name.v2": lambda v: v == "x",
    }
    assert holds(text, VARS, functions) is expected


def test_unknown_function_is_a_condition_error() -> None:
    with pytest.raises(ConditionError, match="unknown condition function 'contain'") as info:
        holds("contain($TEXT, 'x')", VARS, {"contains": lambda a, b: True})
    assert info.value.hint == "did you mean 'contains'?"
    with pytest.raises(ConditionError, match="unknown condition function 'x'") as info:
        holds("x()", VARS, {})
    assert "llmnet-conditions" in (info.value.hint or "")


def test_raising_function_is_a_condition_error() -> None:
    def broken(value: Any) -> bool:
        raise ValueError("boom")

    with pytest.raises(ConditionError) as info:
        holds("broken($TEXT) or true", VARS, {"broken": broken})
    message = str(info.value)
    assert "'broken'" in message and "ValueError: boom" in message
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(ConditionError, match="TypeError"):
        holds("broken()", VARS, {"broken": broken})  # wrong arity is reported the same way


def test_function_result_without_truth_value() -> None:
    class Ambiguous:
        def __bool__(self) -> bool:
            raise ValueError("ambiguous")

    with pytest.raises(ConditionError, match="neither true nor false"):
        holds("odd()", VARS, {"odd": Ambiguous})


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("$WORD_COUNT >> 10", 'unexpected ">"', 13),
        ("$A << 1", 'unexpected "<"', 4),
        ("$A <> 1", 'unexpected "<>" (use "!=" for "not equal")', 4),
        ("$A > > 1", 'unexpected ">"', 6),
        ("", "empty expression", 1),
        ("   ", "empty expression", 1),
        ("$A == 'abc", "unterminated string (no closing single quote)", 7),
        ('"abc\\"', "unterminated string (no closing double quote)", 1),
        ("($A == 1", 'unclosed "("', 1),
        ("$A and (($B)", 'unclosed "("', 8),
        ("contains($A, 'x'", 'unclosed "(" of contains()', 9),
        ("f($A $B)", 'expected "," or ")" in the arguments of f() but found "$B"', 6),
        ("($A $B)", 'expected ")" but found "$B"', 5),
        ("$A == 1)", 'unexpected ")" (no matching "(")', 8),
        ("$A ==", 'expected a value after "=="', 6),
        ("$A and", 'expected a value after "and"', 7),
        ("not", 'expected a value after "not"', 4),
        ("$ == 1", 'expected a variable name after "$"', 1),
        ("$A == $", 'expected a variable name after "$"', 7),
        ("$1 == 1", 'expected a variable name after "$"', 1),
        ("$A $B", 'unexpected "$B" (missing "and" or "or"?)', 4),
        ("$A == 1 2", 'unexpected "2" (missing "and" or "or"?)', 9),
        ("1 < $A < 3", 'comparison chains are not allowed (join the comparisons with "and")', 8),
        ("$A = 1", 'unexpected "=" (use "==" to compare)', 4),
        ("$A & $B", 'unexpected "&" (use "&&" or "and")', 4),
        ("$A | $B", 'unexpected "|" (use "||" or "or")', 4),
        ("$A == @", 'unexpected "@"', 7),
        ("$A == and", 'unexpected "and"', 7),
        ("()", 'unexpected ")"', 2),
        ("f($A,)", 'unexpected ")"', 6),
        ("f(,)", 'unexpected ","', 3),
        ("$A == 10abc", 'invalid number "10abc" (quote it if it is text)', 7),
        ("$A == 1.2.3", 'invalid number "1.2.3" (quote it if it is text)', 7),
        ("$A.b == 1", 'unexpected "."', 3),
        ("true(1)", 'unexpected "(" (missing "and" or "or"?)', 5),
        ("$A == - 1", 'unexpected "-"', 7),
        ("(" * 100 + "$A" + ")" * 100, "expression nested too deeply (more than 64 levels)", 65),
    ],
)
def test_syntax_errors(text: str, reason: str, position: int) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    error = info.value
    assert (error.reason, error.position, error.expression) == (reason, position, text)
    assert str(error) == f"{reason} at column {position} in {text!r}"


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("$A >< 1", 'unexpected ">"', 4),
        ("$A <", 'expected a value after "<"', 5),
        ("$A |", 'unexpected "|" (use "||" or "or")', 4),
        ("!", 'expected a value after "!"', 2),
    ],
)
def test_symbols_are_read_up_to_the_end_of_the_text(text: str, reason: str, position: int) -> None:
    test_syntax_errors(text, reason, position)


def test_syntax_error_message_matches_the_ux() -> None:
    with pytest.raises(
        ConditionSyntaxError, match=r"^unexpected \">\" at column 13 in '\$WORD_COUNT >> 10'$"
    ):
        parse_condition("$WORD_COUNT >> 10")


def test_non_text_condition_is_a_syntax_error() -> None:
    with pytest.raises(ConditionSyntaxError, match="must be text, got bool"):
        parse_condition(True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "variables", "functions"),
    [
        ("true", set(), set()),
        ("$A", {"A"}, set()),
        ("$A == $B or $A", {"A", "B"}, set()),
        ("$INPUT == x and $INPUT_LENGTH > 3", {"INPUT", "INPUT_LENGTH"}, set()),
        (
            "contains($INPUT, 'x') and not matches(lower($NODE), '^a')",
            {"INPUT", "NODE"},
            {"contains", "matches", "lower"},
        ),
        ("f(g(h()))", set(), {"f", "g", "h"}),
        ("$secret_2 == literal", {"secret_2"}, set()),
    ],
)
def test_variables_and_functions_sets(text: str, variables: set[str], functions: set[str]) -> None:
    condition = parse_condition(text)
    assert condition.text == text
    assert condition.variables == frozenset(variables)
    assert condition.functions == frozenset(functions)
    assert isinstance(condition.variables, frozenset)


def test_parse_is_cached_and_conditions_are_reusable() -> None:
    first = parse_condition("$WORD_COUNT < 10")
    assert parse_condition("$WORD_COUNT < 10") is first
    assert isinstance(first, Condition)
    assert first.evaluate({"WORD_COUNT": "3"}) is True
    assert first.evaluate({"WORD_COUNT": "30"}) is False
    assert first.evaluate({}) is False
    with pytest.raises(ConditionSyntaxError):  # failures are not cached into successes
        parse_condition("$A ==")
    with pytest.raises(ConditionSyntaxError):
        parse_condition("$A ==")


def test_evaluate_returns_bool_and_accepts_any_mapping() -> None:
    from types import MappingProxyType

    condition = parse_condition("$A")
    assert condition.evaluate(MappingProxyType({"A": "x"})) is True
    assert parse_condition("size($A)").evaluate({"A": "ab"}, {"size": len}) is True


def test_explain() -> None:
    condition = parse_condition("$WORD_COUNT < 10 and $MISSING")
    assert condition.explain({"WORD_COUNT": "12"}) == (
        "'$WORD_COUNT < 10 and $MISSING' is false ($MISSING missing, $WORD_COUNT='12')"
    )
    assert parse_condition("true").explain({}) == "'true' is true"


def test_the_parser_is_internal_and_plugins_add_functions_instead() -> None:
    import llmnet_core

    assert "parse_condition" not in llmnet_core.__all__ and "Condition" not in llmnet_core.__all__
    assert "ConditionRegistrar" in llmnet_core.__all__
    assert parse_condition("true").evaluate({}, {}) is True and isinstance(parse_condition("x"), Condition)


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
@pytest.mark.parametrize("right", ["11", "12", "13", "12.0", "11.5"])
def test_every_comparison_at_its_boundary_agrees_with_arithmetic(op: str, right: str) -> None:
    """`<` and `<=` (and the others) differ exactly at the boundary: 12 against 11, 12 and 13."""
    compare = {
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "==": operator.eq,
        "!=": operator.ne,
    }[op]
    assert holds(f"$WORD_COUNT {op} {right}") is compare(12, float(right))
    assert holds(f"{right} {op} $WORD_COUNT") is compare(float(right), 12)
