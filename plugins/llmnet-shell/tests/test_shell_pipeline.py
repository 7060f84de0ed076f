"""The shell transport inside real pipelines: a model on the fake OpenAI server, hooks on the node
running small real Python programs (see conftest.py), and once through the `llmnet` command line."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_testing import hook_composition

from llmnet_core import Pipeline, PipelineError
from llmnet_core.cli import cli

#: prints the hook's data with a tag appended (the tag is the program's first argument)
APPEND = "import json, sys; print(json.load(sys.stdin)['data'] + '+' + sys.argv[1])"


def composition(model_url: str, pre: list[Any], post: list[Any], **functions: Any) -> dict[str, Any]:
    return hook_composition(model_url, functions, "shell", pre, post)


def transform(function: str, **extra: Any) -> dict[str, Any]:
    return {"function": function, "mode": "transform", **extra}


def sent_to_model(model: Any, index: int = 0) -> str:
    return model.chat_requests[index].json["messages"][-1]["content"]


async def run(data: dict[str, Any], prompt: str) -> Any:
    async with Pipeline.from_dict(data) as pipeline:
        return await pipeline.run(prompt)


async def test_observe_passes_data_through_and_the_program_receives_it(host, echo_model, program, tmp_path):
    log = tmp_path / "audit.jsonl"
    record = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read()); print('IGNORED')"
    data = composition(
        echo_model.url, [{"function": "audit"}], [{"function": "audit"}], audit=program(record, str(log))
    )
    result = await run(data, "hello there")
    assert result.output == "model saw: hello there"
    assert sent_to_model(echo_model) == "hello there"
    seen = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e["phase"])
    assert [(e["phase"], e["mode"], e["node"], e["data"]) for e in seen] == [
        ("post", "observe", "chat", "model saw: hello there"),
        ("pre", "observe", "chat", "hello there"),
    ]
    assert [h.status for h in result.trace.hops[0].hooks] == ["ok", "ok"]


async def test_pre_hook_transform_changes_what_the_model_sees(host, echo_model, program):
    upper = program("import json, sys; print(json.load(sys.stdin)['data'].upper())")
    result = await run(composition(echo_model.url, [transform("upper")], [], upper=upper), "make me loud")
    assert sent_to_model(echo_model) == "MAKE ME LOUD"
    assert result.output == "model saw: MAKE ME LOUD"


async def test_post_hook_transform_json_merges_into_json_output(host, fake_server, program):
    server = fake_server('{"answer": "42"}')
    code = "import json, sys; print(json.dumps({'checked': True, 'by': sys.argv[1]}))"
    data = composition(server.url, [], [transform("check")], check=program(code, "$NODE"))
    result = await run(data, "question")
    assert json.loads(result.output) == {"answer": "42", "checked": True, "by": "chat"}


async def test_a_chain_of_three_transforms_each_sees_the_previous_result(host, echo_model, program):
    functions = {tag: program(APPEND, tag) for tag in ("a", "b", "c")}
    data = composition(echo_model.url, [transform("a"), transform("b"), transform("c")], [], **functions)
    result = await run(data, "start")
    assert sent_to_model(echo_model) == "start+a+b+c"
    assert result.output == "model saw: start+a+b+c"
    assert [h.changed for h in result.trace.hops[0].hooks] == [True, True, True]


async def test_a_failing_program_continues_or_aborts(host, echo_model, program):
    broken = program("import sys; sys.stderr.write('disk full\\n'); sys.exit(1)")
    result = await run(composition(echo_model.url, [transform("broken")], [], broken=broken), "go on")
    assert result.output == "model saw: go on"
    outcome = result.trace.hops[0].hooks[0]
    assert outcome.status == "failed" and "exited with status 1: disk full" in outcome.error

    data = composition(echo_model.url, [transform("broken", on_failure="abort")], [], broken=broken)
    with pytest.raises(PipelineError) as info:
        await run(data, "stop")
    assert str(info.value).startswith('node "chat": pre-hook "broken" (shell) failed: function "broken": ')
    assert "exited with status 1: disk full" in str(info.value)
    assert len(echo_model.chat_requests) == 1  # only the first run reached the model


async def test_a_conditional_hook_with_a_numeric_condition(host, echo_model, program, tmp_path):
    calls = tmp_path / "calls"
    tag = program("import sys; open(sys.argv[1], 'a').write('x'); print('LONG REQUEST')", str(calls))
    data = composition(echo_model.url, [transform("tag", **{"if": "$WORD_COUNT > 3"})], [], tag=tag)
    assert (await run(data, "two words")).output == "model saw: two words"
    assert (await run(data, "this one has five words")).output == "model saw: LONG REQUEST"
    assert calls.read_text() == "x"


async def test_a_slow_program_times_out_and_is_killed(host, echo_model, program, tmp_path, stopped):
    pidfile = tmp_path / "slow.pid"
    slow = program("import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)")
    slow["args"].append(str(pidfile))
    data = composition(echo_model.url, [transform("slow")], [], slow={**slow, "timeout": 2})
    result = await run(data, "quick")
    assert result.output == "model saw: quick"
    assert result.trace.hops[0].hooks[0].status == "timeout"
    assert stopped(int(pidfile.read_text()))


async def test_shell_metacharacters_reach_the_program_verbatim(host, echo_model, program, tmp_path):
    marker = tmp_path / "created-by-injection"
    hostile = f'"; touch {marker}; echo $(id) `id` | tee {marker} $NODE'
    echo = program("import json, sys; print(json.dumps({'argv': sys.argv[1:]}))", "$INPUT")
    result = await run(composition(echo_model.url, [transform("echo")], [], echo=echo), hostile)
    assert json.loads(sent_to_model(echo_model)) == {"argv": [hostile]}
    assert result.output.startswith("model saw: {")
    assert not marker.exists()


def test_the_command_line_reports_a_bad_field_without_a_traceback(host, echo_model, write_composition):
    data = composition(echo_model.url, [transform("tool")], [], tool={"command": "no-such-program-xyz"})
    result = CliRunner().invoke(cli, ["run", str(write_composition(data)), "hi"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    assert 'functions.tool.command: program "no-such-program-xyz" not found on PATH' in result.stderr
    assert echo_model.chat_requests == []


def test_validate_reports_a_bad_field_with_its_path(host, write_composition):
    data = composition("http://127.0.0.1:9", [transform("tool")], [], tool={"command": "x", "stdin": "yaml"})
    result = CliRunner().invoke(cli, ["validate", str(write_composition(data))])
    assert result.exit_code == 2
    assert "error   functions.tool.stdin: Input should be 'json', 'text' or 'none'" in result.stderr


async def test_a_relative_command_in_a_composition_file(
    host, echo_model, tmp_path, write_composition, monkeypatch
):
    data = composition(echo_model.url, [transform("tag")], [], tag={"command": "./tag.py"})
    path = write_composition(data)
    script = path.parent / "tag.py"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.load(sys.stdin)['data'] + '+tag')\n")
    script.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    async with Pipeline.from_file(path) as pipeline:
        result = await pipeline.run("hi")
    assert result.output == "model saw: hi+tag"


def test_the_command_line_runs_a_transform_hook(host, echo_model, program, write_composition):
    data = composition(echo_model.url, [transform("tag")], [], tag=program(APPEND, "tagged"))
    result = CliRunner().invoke(cli, ["run", str(write_composition(data)), "original", "--no-stream"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "model saw: original+tagged\n"
