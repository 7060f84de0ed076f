"""Tests of llmnet-conditions: each function through a parsed condition, and discovery by entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llmnet_conditions
import pytest

from llmnet_core.conditions import parse_condition
from llmnet_core.errors import ConditionError


def registered_functions() -> dict[str, Callable[..., Any]]:
    """Call the plugin's hook with a recording `register`, as the plugin host would."""
    recorded: dict[str, Callable[..., Any]] = {}

    def register(name: str, fn: Callable[..., Any], *, description: str = "") -> None:
        assert name not in recorded, f"{name} registered twice"
        recorded[name] = fn

    llmnet_conditions.llmnet_register_conditions(register=register)
    return recorded


FUNCTIONS = registered_functions()
VARS: dict[str, Any] = {
    "INPUT": "My Invoice shows a double charge",
    "PADDED": "  Technical \n",
    "COUNT": "12",
    "DECIMAL": " 3.5 ",
    "EMPTY": "",
    "NONE": None,
    "HOPS": 3,
    "ITEMS": ["a", "b"],
}


def holds(text: str) -> bool:
    return parse_condition(text).evaluate(VARS, FUNCTIONS)


def test_registers_the_documented_functions_with_docstrings() -> None:
    assert sorted(FUNCTIONS) == sorted(
        [
            "contains",
            "icontains",
            "startswith",
            "endswith",
            "matches",
            "len",
            "lower",
            "upper",
            "trim",
            "number",
            "words",
        ]
    )
    for name, fn in FUNCTIONS.items():
        doc = (fn.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"{name} needs a one-line docstring"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains($INPUT, 'Invoice')", True),
        ("contains($INPUT, 'invoice')", False),
        ("contains($INPUT, '')", True),
        ("contains($MISSING, 'x')", False),
        ("contains($INPUT, $MISSING)", False),
        ("contains($NONE, '')", False),
        ("contains($HOPS, 3)", True),
        ("icontains($INPUT, 'INVOICE')", True),
        ("icontains($INPUT, 'refund')", False),
        ("icontains($MISSING, 'x')", False),
        ("startswith($INPUT, 'My ')", True),
        ("startswith($INPUT, 'my ')", False),
        ("startswith($MISSING, '')", False),
        ("endswith($INPUT, 'charge')", True),
        ("endswith($INPUT, 'double')", False),
        ("endswith($INPUT, $MISSING)", False),
        (r"matches($INPUT, '\bdouble\s+charge')", True),
        ("matches($INPUT, '^My')", True),
        ("matches($INPUT, '^Invoice')", False),
        ("matches($COUNT, '^[0-9]+$')", True),
        ("matches($MISSING, '.*')", False),
        ("matches($INPUT, $MISSING)", False),
        ("len($INPUT) == 32", True),
        ("len($COUNT) == 2", True),
        ("len($HOPS) == 1", True),
        ("len($ITEMS) == 2", True),
        ("len($MISSING) == 0", True),
        ("len($EMPTY)", False),
        ("lower($PADDED) == '  technical \n'", True),
        ("upper($COUNT) == '12'", True),
        ("upper('ab') == AB", True),
        ("trim($PADDED) == Technical", True),
        ("lower(trim($PADDED)) == 'technical'", True),
        ("lower($MISSING) == ''", False),  # missing stays missing: comparisons are false
        ("lower($MISSING) != 'x'", False),
        ("trim($MISSING)", False),
        ("number($COUNT) == 12", True),
        ("number($DECIMAL) > 3", True),
        ("number($HOPS) == 3", True),
        ("number('abc') == 0", False),
        ("number('abc') != 0", False),
        ("number($MISSING) < 1", False),
        ("number('nan') != 1", False),
        ("number('1e3') == 1000", True),
        ("words($INPUT) == 6", True),
        ("words($PADDED) == 1", True),
        ("words($EMPTY) == 0", True),
        ("words($MISSING) == 0", True),
        ("words($INPUT) > 5 and icontains($INPUT, 'invoice')", True),
    ],
)
def test_functions_in_conditions(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_number_and_words_values() -> None:
    assert llmnet_conditions.number("12") == 12.0 and isinstance(llmnet_conditions.number("12"), float)
    assert llmnet_conditions.number(True) is None
    assert llmnet_conditions.number(None) is None
    assert llmnet_conditions.words("one  two\tthree\n") == 3


def test_invalid_regex_is_reported_clearly() -> None:
    with pytest.raises(ValueError, match=r"invalid regular expression '\(unclosed'"):
        llmnet_conditions.matches("text", "(unclosed")
    with pytest.raises(ConditionError, match=r"'matches'.*invalid regular expression '\(unclosed'"):
        holds("matches($INPUT, '(unclosed')")


def test_wrong_arity_is_a_condition_error() -> None:
    with pytest.raises(ConditionError, match="'contains'"):
        holds("contains($INPUT)")


def test_discovered_through_entry_point() -> None:
    from llmnet_core.plugins import PluginHost

    host = PluginHost(environ={})
    regs = host.registries
    assert "matches" in regs.condition_functions
    assert regs.condition_functions.entries["matches"].plugin == "llmnet-conditions"
    assert regs.condition_functions.entries["words"].description.startswith("The number of")
    assert "llmnet-conditions" not in {failure.name for failure in host.failures}


def test_blocked_plugin_registers_nothing() -> None:
    from llmnet_core.plugins import PluginHost

    host = PluginHost(environ={"LLMNET_BLOCK_PLUGINS": "llmnet-conditions"})
    assert "matches" not in host.registries.condition_functions
