"""`decode_reply`: the one rule by which every transport reads a peer's text reply, and what
`apply_transform` then makes of it."""

from __future__ import annotations

import pytest

from llmnet_core import decode_reply
from llmnet_core.hooks import apply_transform


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"label": "spam"}', {"label": "spam"}),
        ('[1, "two"]', [1, "two"]),
        ('"abc"', "abc"),  # a JSON string is its text, without the quotes
        ('  {"a": 1}\n', {"a": 1}),  # whitespace around JSON does not matter
        ('""', ""),
        ('"null"', "null"),  # a JSON string, not null
        ("plain text", "plain text"),
        ("  kept as sent \n", "  kept as sent \n"),  # text is never trimmed
        ("42", "42"),  # numbers and booleans stay text: the data they become is their text anyway
        ("1e3", "1e3"),
        ("true", "true"),
        ("null", None),  # JSON null: no change
        (" null\n", None),
        ("", None),  # empty or blank: no change
        (" \n\t ", None),
        ("{not json", "{not json"),  # only starts like JSON: text
        ('{"a": 1} trailing', '{"a": 1} trailing'),
        ('"abc" "def"', '"abc" "def"'),
        ('{"a": NaN}', '{"a": NaN}'),  # NaN and Infinity are not JSON
        ("[Infinity]", "[Infinity]"),
    ],
)
def test_the_reply_rule(reply, expected):
    assert decode_reply(reply) == expected


def test_json_nested_too_deep_to_decode_stays_text():
    deep = "[" * 100_000 + "]" * 100_000
    assert decode_reply(deep) == deep


@pytest.mark.parametrize(
    ("reply", "data", "result"),
    [
        ('"abc"', "old", "abc"),
        ('{"b": 2}', '{"a": 1}', '{"a": 1, "b": 2}'),
        ('{"b": 2}', "old text", '{"b": 2}'),
        ("null", "old", "old"),
        ("", "old", "old"),
        ("42", "old", "42"),
        ("plain", "old", "plain"),
    ],
)
def test_the_data_a_reply_becomes(reply, data, result):
    assert apply_transform(decode_reply(reply), data) == result
