"""`llmnet eval` on input it cannot use: a clear message that names the file and the line, exit code 2,
and never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest


def refused(kit: Any, *args: Any) -> str:
    """Run `llmnet eval ARGS`, which must fail with exit code 2 and nothing on stdout; returns stderr."""
    result = kit.invoke("eval", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    return result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "hi", "label": "billing"', "line 2: not valid JSON: Expecting ',' delimiter (column 34)"),
        ('["hi", "billing"]', "line 2: expected a JSON object, got a list"),
        ('{"text": "hi"}', 'line 2: missing "label"'),
        ('{"text": "hi", "label": []}', 'line 2: "label" is an empty list'),
        ('{"text": "hi", "label": ["billing", 3]}', 'line 2: "label" must be a node name or a list'),
        ('{"label": "billing"}', 'line 2: missing "text" (or "messages" for a conversation)'),
        ('{"text": "  ", "label": "billing"}', 'line 2: "text" must be a non-empty string'),
        ('{"text": "a", "messages": [], "label": "billing"}', 'line 2: give "text" or "messages", not both'),
        ('{"messages": [{"role": "system", "content": "x"}], "label": "billing"}', "has no user message"),
        ('{"messages": [{"role": "user"}], "label": "billing"}', '"messages"[0] must be an object'),
        ('{"text": "a", "label": "billing", "variables": [1]}', '"variables" must be an object'),
    ],
)
def test_a_bad_line_is_named_with_its_number(kit, host, support, write_jsonl, line, message):
    data = write_jsonl([{"text": "fine", "label": "billing"}, line])
    error = refused(kit, support.composition, data)
    assert error.startswith(f"error: {data}, line 2: ")
    assert message in error


def test_every_bad_line_is_listed_at_once(kit, host, support, write_jsonl):
    data = write_jsonl(["{", {"text": "ok", "label": "billing"}, "nope", '{"text": "x"}'])
    error = refused(kit, support.composition, data)
    assert error.splitlines()[0] == f"error: {data}: 3 problems"
    assert "  line 1: not valid JSON" in error and "  line 3: not valid JSON" in error
    assert '  line 4: missing "label"' in error


def test_a_label_that_is_not_a_node_gets_a_suggestion(kit, host, support, write_jsonl):
    data = write_jsonl([{"text": "a", "label": "billing"}, {"text": "b", "label": "biling"}])
    error = refused(kit, support.composition, data)
    assert (
        f'{data}, line 2: label "biling" is not a node of the composition (did you mean "billing"?)' in error
    )
    assert "nodes: billing, output, router, sales, tech" in error


def test_a_label_no_request_can_reach(kit, host, fake_server, write_composition, write_jsonl):
    server = fake_server("ok")
    path = write_composition(
        {
            "models": {"m": kit.model(server)},
            "architecture": [
                {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
                {"name": "orphan", "layer": 1, "model": "m", "output-to": ["output"]},
                {"name": "output", "adapter": "output"},
            ],
        }
    )
    error = refused(kit, path, write_jsonl([{"text": "a", "label": "orphan"}]))
    assert 'line 1: label "orphan": no request can reach that node' in error


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file(kit, host, support, tmp_path, content):
    data = tmp_path / "empty.jsonl"
    data.write_text(content, encoding="utf-8")
    assert f"error: {data}: no labelled requests (the file is empty)" in refused(
        kit, support.composition, data
    )


def test_a_missing_or_unreadable_data_file(kit, host, support, tmp_path):
    assert f"error: {tmp_path}/nothing.jsonl: no such file" in refused(
        kit, support.composition, tmp_path / "nothing.jsonl"
    )
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"text": "\xff"}\n')
    assert "not UTF-8 text" in refused(kit, support.composition, binary)


def test_a_composition_that_does_not_validate(kit, host, write_composition, write_jsonl):
    path = write_composition('{"architecture": [{"name": "a", "model": "nowhere"}]}', "broken.json")
    error = refused(kit, path, write_jsonl([{"text": "a", "label": "a"}]))
    assert error.startswith(f"error: {path}: ") and 'unknown model "nowhere"' in error


def test_a_composition_with_a_syntax_error(kit, host, write_composition, write_jsonl):
    path = write_composition('{"models": {}, }}', "syntax.json")
    error = refused(kit, path, write_jsonl([{"text": "a", "label": "a"}]))
    assert f"error: {path}: 1 problem" in error and "line 1" in error


def test_a_missing_composition(kit, host, write_jsonl, tmp_path):
    error = refused(kit, tmp_path / "none.json", write_jsonl([{"text": "a", "label": "a"}]))
    assert f"error: {tmp_path}/none.json: no such file" in error


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--router", "semantik"], '--router: no routing strategy "semantik" (did you mean "semantic"?)'),
        (["--router", "llm,,semantic"], "is not a comma-separated list"),
        (["--min-accuracy", "1.5"], "--min-accuracy"),
        (["--format", "yaml"], "--format"),
        (["--concurrency", "0"], "--concurrency"),
        (["--var", "NOEQUALS"], "--var"),
    ],
)
def test_bad_options(kit, host, support, option, message):
    assert message in refused(kit, support.composition, support.data, *option)


def test_router_option_needs_a_node_that_routes(kit, host, fake_server, write_composition, write_jsonl):
    server = fake_server("ok")
    path = write_composition(
        {
            "models": {"m": kit.model(server)},
            "architecture": [
                {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
                {"name": "output", "adapter": "output"},
            ],
        }
    )
    error = refused(kit, path, write_jsonl([{"text": "a", "label": "chat"}]), "--router", "llm")
    assert "--router: no node of the composition chooses between several targets" in error


def test_no_traceback_from_the_real_command(kit, support, write_jsonl):
    done = kit.llmnet("eval", support.composition, write_jsonl(["{oops"]))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0].endswith(
        "line 1: not valid JSON: Expecting property name enclosed in double quotes (column 2)"
    )
    done = kit.llmnet(
        "eval",
        support.composition,
        write_jsonl([json.dumps({"text": "a", "label": "x"})]),
        "--format",
        "json",
    )
    assert done.returncode == 2 and done.stdout == "" and 'label "x"' in done.stderr
