"""Small core pieces: substitution, secrets in structures, redaction, router answer parsing, resources."""

from __future__ import annotations

import json

import pytest

from llmnet_core import Resources, substitute, substitute_json
from llmnet_core.composition.jsonc import JSONCError, loads
from llmnet_core.interpolate import find_secret_references, json_escape, resolve_secrets
from llmnet_core.redact import Redactor


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


def test_jsonc_errors_have_line_and_column():
    with pytest.raises(JSONCError) as info:
        loads('{\n  "a": 1,\n  "b": /* never closed\n}')
    assert (info.value.line, info.value.column) == (3, 8)
    value, warnings = loads('{"a": "// not a comment", "a": 2,}')
    assert value == {"a": 2} and "appears twice" in warnings[0].message


def test_jsonc_strings_hide_comment_marks_and_comments_keep_line_numbers():
    value, _ = loads('{"a": "x\\"// y", /* one\ntwo */ "b": [1, 2, // end\n], } // last')
    assert value == {"a": 'x"// y', "b": [1, 2]}
    with pytest.raises(JSONCError) as info:
        loads('/* a\nb */ {"a" 1}')
    assert (info.value.reason, info.value.line, info.value.column) == ("expected ':' after the key", 2, 11)
    with pytest.raises(JSONCError) as info:
        loads("[1]\n  /* open")
    assert (info.value.line, info.value.column) == (2, 3)


async def test_resources_are_shared_and_closed_newest_first():
    resources, closed = Resources(), []
    first = resources.get("k", lambda: object(), close=lambda v: closed.append("k"))
    assert resources.get("k", lambda: object()) is first

    async def make() -> str:
        return "conn"

    assert await resources.aget("a", make, close=lambda v: closed.append("a")) == "conn"
    await resources.aclose()
    assert closed == ["a", "k"]


def test_request_variables_name_every_variable_a_request_carries():
    from llmnet_core import REQUEST_VARIABLES
    from llmnet_core.registry import Registries
    from llmnet_core.variables import VariableScope

    scope = VariableScope("hello", "id", {}, Registries(), {})
    assert {*scope.values(), "OUTPUT"} == set(REQUEST_VARIABLES)  # OUTPUT: added for post-hooks


def test_jsonc_refuses_what_the_parser_would_fail_on_without_a_place():
    for text, where, reason in [
        ("[" * 101 + "]" * 101, (1, 101), "nested more than 100 levels deep"),
        ('{\n  "a": ' + "1" * 1001 + "}", (2, 8), "a number of 1001 digits (at most 1000)"),
        ('{"a": "x\\ud800"}', (1, 7), "half of a surrogate pair"),
        ('{"\\udc00": 1}', (1, 2), "half of a surrogate pair"),
    ]:
        with pytest.raises(JSONCError) as info:
            loads(text)
        assert (info.value.line, info.value.column) == where and reason in info.value.reason
    value, warnings = loads('{"s": "\\ud83d\\ude00 \\\\ud800", "n": ' + "1" * 1000 + ', "d": [[[1]]]}')
    assert value["s"] == "\U0001f600 \\ud800" and warnings == []


def test_a_duplicate_key_is_reported_at_its_path():
    _, warnings = loads('{"a": {"b": [{"c": 1, "c": 2}]}, "a2": {"x": 1, "x": 2}, "a2": 1}')
    assert [w.path for w in warnings] == ["a.b[0].c", "a2"]  # the first "a2", replaced, is not reported


def test_excerpts_never_send_control_characters_to_the_terminal():
    """A hostile peer's reply quoted in an error cannot recolour or rewrite the user's terminal."""
    from llmnet_core import excerpt

    quoted = excerpt("answer \x1b[2J\x1b]0;owned\x07 done\x00 \x9b é")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in quoted)
    assert quoted == "answer \\x1b[2J\\x1b]0;owned\\x07 done\\x00 \\x9b é"


def test_the_values_made_for_every_model_call_compare_and_hash_by_value():
    # Message, Usage, ChatRequest, ChatResponse and StreamChunk are made for every call (and every
    # streamed piece), so they are plain slotted dataclasses rather than frozen ones (a frozen
    # dataclass's __init__ costs several times as much); they still compare and hash by value
    from dataclasses import replace

    from llmnet_core import ChatResponse, Message, StreamChunk, Usage

    assert Message("user", "hi") == Message("user", "hi")
    assert len({Message("user", "hi"), Message("user", "hi"), Message("assistant", "hi")}) == 2
    assert hash(Usage(1, 2)) == hash(Usage(1, 2)) and Usage(1, 2) + Usage(3, 4) == Usage(4, 6)
    answer = ChatResponse("text", Usage(1, 2), "m")
    assert replace(answer, model="other") == ChatResponse("text", Usage(1, 2), "other")
    assert {StreamChunk("a"): 1}[StreamChunk("a")] == 1
    assert not hasattr(Message("user", "hi"), "__dict__")  # slotted: no stray attributes
