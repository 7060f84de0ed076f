"""Small core pieces: substitution, secrets in structures, redaction, router answer parsing, resources."""

from __future__ import annotations

import json

import pytest

from llmnet_core import Resources, substitute, substitute_json
from llmnet_core.composition.jsonc import JSONCError, loads
from llmnet_core.interpolate import find_secret_references, json_escape, resolve_secrets
from llmnet_core.redact import Redactor
from llmnet_core.routing import parse_choice


def test_substitution_matches_whole_names():
    values = {"INPUT": "hi", "INPUT_LENGTH": "2"}
    assert substitute("$INPUT/$INPUT_LENGTH/${INPUT}x/$INPUTX/$OTHER", values) == "hi/2/hix/$INPUTX/$OTHER"
    assert substitute("Summarise $INPUT.", values) == "Summarise hi."
    assert substitute("$secrets.a.B stays", values) == "$secrets.a.B stays"


def test_substitution_keeps_json_valid():
    tricky = 'say "hi"\\ \n\tnow'
    body = '{"text": "$INPUT", "n": 1}'
    assert json.loads(substitute(body, {"INPUT": tricky}, escape=json_escape))["text"] == tricky
    assert substitute_json({"$INPUT": ["$INPUT", 3]}, {"INPUT": tricky}) == {tricky: [tricky, 3]}


def test_secret_references_are_found_and_resolved():
    data = {"models": {"m": {"api-key": "Bearer $secrets.api.KEY", "n": [1, "$secrets.db-x.PASS"]}}}
    refs = find_secret_references(data)
    assert refs == [("models.m.api-key", "api", "KEY"), ("models.m.n[1]", "db-x", "PASS")]
    resolved = resolve_secrets(data, {"api": {"KEY": "k1"}, "db-x": {"PASS": "p2"}})
    assert resolved["models"]["m"] == {"api-key": "Bearer k1", "n": [1, "p2"]}


def test_json_escape_is_public():
    import llmnet_core

    assert llmnet_core.json_escape is json_escape and "json_escape" in llmnet_core.__all__
    value = 'line\nwith "quotes" and \\ é'
    assert json.loads('"' + json_escape(value) + '"') == value


def test_redactor_masks_longest_values_first():
    redact = Redactor(["abcd", "abcdefgh", "no"])
    assert redact("x abcdefgh y abcd z no") == "x *** y *** z no"
    assert Redactor()("unchanged") == "unchanged"


@pytest.mark.parametrize(
    ("answer", "expected", "how"),
    [
        ("billing", "billing", "exact"),
        ("Billing", "billing", "case-insensitive"),
        ('"tech-support".', "tech-support", "exact"),
        ("Tech Support", "tech-support", "normalised"),
        ("I think tech-support fits best, not billing", "tech-support", "named in the reply"),
        ("<think>billing or tech-support?</think>billing", "billing", "exact"),
        ("nothing useful", None, "no candidate named"),
    ],
)
def test_router_answers_are_parsed_robustly(answer, expected, how):
    assert parse_choice(answer, ["billing", "tech-support"]) == (expected, how)


def test_jsonc_errors_have_line_and_column():
    with pytest.raises(JSONCError) as info:
        loads('{\n  "a": 1,\n  "b": /* never closed\n}')
    assert (info.value.line, info.value.column) == (3, 8)
    value, warnings = loads('{"a": "// not a comment", "a": 2,}')
    assert value == {"a": 2} and "appears twice" in warnings[0].message


async def test_resources_are_shared_and_closed_newest_first():
    resources, closed = Resources(), []
    first = resources.get("k", lambda: object(), close=lambda v: closed.append("k"))
    assert resources.get("k", lambda: object()) is first

    async def make() -> str:
        return "conn"

    assert await resources.aget("a", make, close=lambda v: closed.append("a")) == "conn"
    await resources.aclose()
    assert closed == ["a", "k"]


def test_status_problem_is_shared_by_the_http_backends():
    from llmnet_core import plural, status_problem

    assert plural(1, "attempt") == "1 attempt" and plural(3, "attempt") == "3 attempts"
    message, hint = status_problem("http://h/v1", 401, "nope", model="m", has_key=True)
    assert message == "http://h/v1 rejected the API key (HTTP 401): nope"
    assert hint == "Check models.m.api-key."
    message, hint = status_problem("http://h/v1", 403, "", model="m", has_key=False)
    assert "requires an API key" in message
    hints = {404: "not here", "5xx": "server broke"}
    message, hint = status_problem("http://h", 503, "busy", model="m", has_key=False, attempts=3, hints=hints)
    assert message == "http://h answered HTTP 503 after 3 attempts: busy" and hint == "server broke"
    assert status_problem("http://h", 404, "x", model="m", has_key=False, hints=hints)[1] == "not here"
    assert status_problem("http://h", 418, "x", model="m", has_key=False, hints=hints)[1] is None
