"""The rest transport inside real pipelines: a model on the fake OpenAI server, hooks on the node calling
a real HTTP peer on 127.0.0.1 (see conftest.py), and once through the `llmnet` command line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_testing import hook_composition

from llmnet_core import Pipeline, PipelineError, StepTimeoutError
from llmnet_core.cli import cli

NASTY = 'quote " backslash \\ newline\n tab\t brace } $NODE ${INPUT} ü 🙂'


def composition(model_url: str, pre: list[Any], post: list[Any], **functions: Any) -> dict[str, Any]:
    return hook_composition(model_url, functions, "rest", pre, post)


def transform(function: str, **extra: Any) -> dict[str, Any]:
    return {"function": function, "mode": "transform", **extra}


async def run(data: dict[str, Any], prompt: str) -> Any:
    async with Pipeline.from_dict(data) as pipeline:
        return await pipeline.run(prompt)


async def test_observe_passes_data_through_and_the_peer_receives_it(host, echo_model, peer):
    url = peer.on("/audit", body="IGNORED: observe replies never change data")
    data = composition(echo_model.url, [{"function": "audit"}], [{"function": "audit"}], audit={"url": url})
    result = await run(data, "hello there")
    assert result.output == "model saw: hello there"
    assert echo_model.chat_requests[0].json["messages"][-1]["content"] == "hello there"
    sent = sorted((r.json for r in peer.at("/audit")), key=lambda body: body["phase"])
    assert [(s["phase"], s["mode"], s["node"], s["data"]) for s in sent] == [
        ("post", "observe", "chat", "model saw: hello there"),
        ("pre", "observe", "chat", "hello there"),
    ]
    assert [h.status for h in result.trace.hops[0].hooks] == ["ok", "ok"]


async def test_pre_hook_transform_changes_what_the_model_sees(host, echo_model, peer):
    url = peer.on("/upper", lambda r: (200, r.json["text"].upper()))
    data = composition(
        echo_model.url, [transform("upper")], [], upper={"url": url, "body": {"text": "$INPUT"}}
    )
    result = await run(data, "make me loud")
    assert echo_model.chat_requests[0].json["messages"][-1]["content"] == "MAKE ME LOUD"
    assert result.output == "model saw: MAKE ME LOUD"
    assert result.trace.hops[0].hooks[0].changed


async def test_post_hook_transform_json_merges_into_json_output(host, fake_server, peer):
    server = fake_server('{"answer": "42"}')
    url = peer.on("/enrich", lambda r: (200, {"checked": True, "by": r.json["node"]}))
    data = composition(server.url, [], [transform("enrich")], enrich={"url": url, "body": {"node": "$NODE"}})
    result = await run(data, "question")
    assert json.loads(result.output) == {"answer": "42", "checked": True, "by": "chat"}


async def test_a_chain_of_three_transforms_each_sees_the_previous_result(host, echo_model, peer):
    functions = {
        name: {"url": peer.on(f"/{name}", lambda r, tag=name: (200, f"{r.text}+{tag}")), "body": "$INPUT"}
        for name in ("a", "b", "c")
    }
    data = composition(echo_model.url, [transform("a"), transform("b"), transform("c")], [], **functions)
    result = await run(data, "start")
    assert [r.text for r in peer.received] == ["start", "start+a", "start+a+b"]
    assert echo_model.chat_requests[0].json["messages"][-1]["content"] == "start+a+b+c"
    assert result.output == "model saw: start+a+b+c"
    assert [h.changed for h in result.trace.hops[0].hooks] == [True, True, True]


async def test_a_failing_peer_continues_or_aborts(host, echo_model, peer):
    url = peer.on("/broken", status=500, body="disk full")
    data = composition(echo_model.url, [transform("broken")], [], broken={"url": url})
    result = await run(data, "go on")
    assert result.output == "model saw: go on"
    outcome = result.trace.hops[0].hooks[0]
    assert outcome.status == "failed" and "answered HTTP 500: disk full" in outcome.error

    data = composition(echo_model.url, [transform("broken", on_failure="abort")], [], broken={"url": url})
    with pytest.raises(PipelineError) as info:
        await run(data, "stop")
    assert str(info.value).startswith('node "chat": pre-hook "broken" (rest) failed: function "broken": POST')
    assert "HTTP 500: disk full" in str(info.value)
    assert len(echo_model.chat_requests) == 1  # only the first run reached the model


async def test_a_conditional_hook_with_a_numeric_condition(host, echo_model, peer):
    url = peer.on("/tag", lambda r: (200, "LONG REQUEST"))
    hooks = [transform("tag", **{"if": "$WORD_COUNT > 3"})]
    data = composition(echo_model.url, hooks, [], tag={"url": url})
    assert (await run(data, "two words")).output == "model saw: two words"
    assert (await run(data, "this one has five words")).output == "model saw: LONG REQUEST"
    assert len(peer.at("/tag")) == 1


async def test_a_slow_peer_times_out(host, echo_model, peer):
    url = peer.on("/slow", body="too late", delay=3)
    data = composition(echo_model.url, [transform("slow")], [], slow={"url": url, "timeout": 0.3})
    result = await run(data, "quick")
    assert result.output == "model saw: quick"
    assert result.trace.hops[0].hooks[0].status == "timeout"
    data = composition(
        echo_model.url, [transform("slow", on_failure="abort")], [], slow={"url": url, "timeout": 0.3}
    )
    with pytest.raises(StepTimeoutError, match=r"no answer within 0.3 s") as caught:
        await run(data, "quick")
    assert isinstance(caught.value, PipelineError)
    assert caught.value.trace.hops[0].hooks[0].status == "timeout"


async def test_json_special_characters_survive_into_the_body(host, echo_model, peer):
    url = peer.on("/echo", lambda r: (200, r.json))
    body = {"input": "$INPUT", "nested": ["$INPUT"], "$NODE": "key substituted"}
    data = composition(echo_model.url, [transform("echo")], [], echo={"url": url, "body": body})
    result = await run(data, NASTY)
    assert peer.at("/echo")[0].json == {"input": NASTY, "nested": [NASTY], "chat": "key substituted"}
    # the reply object replaces the text input (which is not an object), as JSON text
    assert json.loads(echo_model.chat_requests[0].json["messages"][-1]["content"])["input"] == NASTY
    assert result.output.startswith("model saw: {")


def test_the_command_line_reports_a_bad_field_without_a_traceback(host, echo_model, peer, write_composition):
    audit = {"url": peer.url("/x"), "headers": {"X-A": ["x"]}}
    data = composition(echo_model.url, [transform("audit")], [], audit=audit)
    result = CliRunner().invoke(cli, ["run", str(write_composition(data)), "hi"])
    assert result.exit_code == 2  # found when the composition is loaded, before anything runs
    assert "Traceback" not in result.output + result.stderr
    assert "functions.audit.headers.X-A: Input should be" in result.stderr
    assert peer.received == [] and echo_model.chat_requests == []


def test_the_command_line_runs_a_transform_hook(host, echo_model, peer, write_composition):
    url = peer.on("/rewrite", body="rewritten")
    data = composition(echo_model.url, [transform("rewrite")], [], rewrite={"url": url})
    result = CliRunner().invoke(cli, ["run", str(write_composition(data)), "original", "--no-stream"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "model saw: rewritten\n"


def test_an_unknown_function_key_is_a_warning_and_the_hook_still_runs(
    host, echo_model, peer, write_composition
):
    url = peer.on("/rewrite", body="rewritten")
    data = composition(echo_model.url, [transform("rewrite")], [], rewrite={"url": url, "retries": 3})
    path = str(write_composition(data))
    checked = CliRunner().invoke(cli, ["validate", path])
    assert checked.exit_code == 0, checked.output
    assert "warning functions.rewrite.retries: unknown field, ignored" in checked.stdout
    result = CliRunner().invoke(cli, ["run", path, "hi"])
    assert result.exit_code == 0, result.stderr
    assert len(peer.at("/rewrite")) == 1
