"""`llmnet eval` end to end on fake OpenAI-compatible servers whose routing answers are set by the test, so
that every figure of the report is known exactly."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from llmnet_core import RouteDecision, Router, hookimpl


def report(kit: Any, *args: Any) -> dict[str, Any]:
    result = kit.invoke("eval", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_accuracy_confusion_and_handlers_are_exact(kit, host, support):
    data = report(kit, support.composition, support.data)
    assert data["requests"] == 6 and data["mode"] == "route-only"
    (run,) = data["runs"]
    assert (run["correct"], run["scored"], run["errors"]) == (4, 6, 0)
    assert run["accuracy"] == pytest.approx(4 / 6)
    # rows: label, columns: where it went; the multi-label request counts under the label it reached
    assert run["confusion"] == {
        "labels": ["billing", "tech", "sales"],
        "matrix": [[2, 0, 0], [0, 1, 1], [1, 0, 1]],
    }
    handlers = run["handlers"]
    assert handlers["billing"]["precision"] == pytest.approx(2 / 3) and handlers["billing"]["recall"] == 1
    assert handlers["tech"]["precision"] == 1 and handlers["tech"]["recall"] == 0.5
    assert handlers["sales"]["precision"] == 0.5 and handlers["sales"]["recall"] == 0.5
    assert run["routing_nodes"]["router"] | {"p50_ms": 0} == {
        "strategy": "llm",
        "decisions": 6,
        "right": 4,
        "wrong": 2,
        "unjudged": 0,
        "accuracy": pytest.approx(4 / 6),
        "p50_ms": 0,
    }
    assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p90"]
    assert run["kinds"] == {
        "single": {"requests": 5, "correct": 3, "accuracy": 0.6},
        "conversation": {"requests": 1, "correct": 1, "accuracy": 1.0},
    }


def test_misrouted_requests_carry_their_line_and_the_decision(kit, host, support):
    (run,) = report(kit, support.composition, support.data)["runs"]
    first, second = run["misrouted"]
    assert (first["line"], first["labels"], first["routed_to"]) == (4, ["sales"], "billing")
    assert (second["line"], second["text"], second["routed_to"]) == (7, "The printer is on fire", "sales")
    assert first["route"] == ["router", "billing", "output"]
    step = first["decisions"][0]
    assert (step["node"], step["chosen"], step["strategy"], step["answer"]) == (
        "router",
        "billing",
        "llm",
        "billing",
    )
    assert step["candidates"] == ["billing", "tech", "sales"] and step["reason"].startswith("llm answer")


def test_routing_only_never_asks_the_handlers(kit, host, support):
    report(kit, support.composition, support.data)
    assert len(support.router.chat_requests) == 6
    assert support.handler.chat_requests == []


def test_the_conversation_is_routed_by_its_last_user_message(kit, host, support):
    report(kit, support.composition, support.data)
    asked = [r.json["messages"][-1]["content"] for r in support.router.chat_requests]
    assert "My invoice is wrong" in asked and "hello" not in asked


def test_full_runs_the_handlers_too(kit, host, support):
    data = report(kit, support.composition, support.data, "--full")
    assert data["mode"] == "full" and data["runs"][0]["correct"] == 4
    assert len(support.handler.chat_requests) == 6
    conversation = [r.json["messages"] for r in support.handler.chat_requests if len(r.json["messages"]) > 1]
    assert conversation == [kit.CONVERSATION]  # the handler answering the conversation got all of it


def test_text_report(kit, host, support):
    result = kit.invoke("eval", support.composition, support.data)
    assert result.exit_code == 0
    out = result.stdout
    assert "accuracy  66.7 %  (4 of 6)" in out
    assert "routing nodes: router (llm)" in out
    assert "confusion (rows: label · columns: where the request went)" in out
    assert "misrouted (2)" in out
    assert '  line 4  "Upgrade my plan"' in out
    assert "expected sales · went to billing · router → billing → output" in out
    assert 'router → billing  llm: llm answer (exact) · answer "billing"' in out
    assert "expected tech · went to sales" in out
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_requests_of_a_kind_are_reported_apart(kit, host, support, write_jsonl):
    rows = [
        {**row, "kind": "follow-up"} if isinstance(row, dict) and "messages" in row else row
        for row in kit.LABELLED
    ]
    rows[-1] = {**rows[-1], "kind": "hard"}
    text = kit.invoke("eval", support.composition, write_jsonl(rows)).stdout
    rows = [r"requests +count +right +accuracy", r"single +4 +3 +75\.0 %", r"follow-up +1 +1 +100\.0 %"]
    assert re.search("\n".join([*rows, r"hard +1 +0 +0\.0 %"]), text), text
    bad = write_jsonl([{"text": "a", "label": "tech", "kind": 3}])
    assert 'line 1: "kind" must be a non-empty string' in kit.invoke("eval", support.composition, bad).stderr


def test_misroutes_option_limits_the_list(kit, host, support):
    out = kit.invoke("eval", support.composition, support.data, "--misroutes", "1").stdout
    assert "line 4" in out and "line 7" not in out and "... 1 more" in out


@pytest.mark.parametrize(("threshold", "code"), [("0.6", 0), ("0.667", 1), ("1", 1)])
def test_min_accuracy_sets_the_exit_code(kit, host, support, threshold, code):
    result = kit.invoke("eval", support.composition, support.data, "--min-accuracy", threshold)
    assert result.exit_code == code
    assert ("FAILED" in result.stdout) == (code == 1)


class FirstCandidate(Router):
    """Always the first candidate."""

    async def choose(self, request):
        return RouteDecision(request.candidates[0].name, "always the first", scores={"x": 1.0})


class Plugin:
    @hookimpl
    def llmnet_register_routers(self, register):
        register("first", FirstCandidate)


def test_router_option_compares_strategies_on_the_same_data(kit, host, register_plugin, support):
    register_plugin(Plugin(), "first-router")
    data = report(kit, support.composition, support.data, "--router", "llm,first")
    llm, first = data["runs"]
    assert (llm["strategy"], llm["correct"]) == ("llm", 4)
    # "first" sends everything to billing: right for the two billing requests and the multi-label one
    assert (first["strategy"], first["correct"], first["routing_nodes"]["router"]["strategy"]) == (
        "first",
        3,
        "first",
    )
    assert len(support.router.chat_requests) == 6  # only the llm run asked the model
    text = kit.invoke("eval", support.composition, support.data, "--router", "llm,first").stdout
    assert "strategy  accuracy  right  errors" in text and "── first ──" in text
    assert re.search(r"^first +50\.0 % +3/6 +0 ", text, re.MULTILINE), text


def test_a_strategy_that_fails_everywhere_is_reported_in_the_comparison(kit, host, support):
    # the constrained strategy needs choice scores, which an OpenAI-compatible server does not give
    data = report(kit, support.composition, support.data, "--router", "llm,constrained")
    constrained = data["runs"][1]
    assert constrained["errors"] == 6 and constrained["accuracy"] is None
    assert constrained["error"].startswith("every request failed; line 1:")
    text = kit.invoke("eval", support.composition, support.data, "--router", "llm,constrained").stdout
    assert "error: every request failed" in text


def two_layers(kit: Any, router: Any, sales_router: Any, handler: Any) -> dict[str, Any]:
    """router → sales | support; sales (a handler that routes too) → sales-new | sales-existing."""
    return {
        "models": {"r": kit.model(router), "s": kit.model(sales_router), "h": kit.model(handler)},
        "architecture": [
            {"name": "router", "layer": 0, "model": "r", "output-to": ["sales", "support"]},
            {"name": "sales", "layer": 1, "model": "s", "output-to": ["sales-new", "sales-existing"]},
            {"name": "support", "layer": 1, "model": "h", "output-to": ["output"]},
            {"name": "sales-new", "layer": 2, "model": "h", "output-to": ["output"]},
            {"name": "sales-existing", "layer": 2, "model": "h", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def test_two_layers_judge_each_routing_node(kit, host, fake_server, write_composition, write_jsonl):
    first = {
        "new plan": "sales",
        "renew": "sales",
        "broken": "support",
        "seats": "support",
        "sales q": "sales",
    }
    second = {"new plan": "sales-new", "renew": "sales-new", "sales q": "sales-existing"}
    router = fake_server(kit.answers({**first, "upgrade": "support"}))
    sales = fake_server(kit.answers(second))
    path = write_composition(two_layers(kit, router, sales, fake_server("ok")))
    data = write_jsonl(
        [
            {"text": "new plan", "label": "sales-new"},  # right, twice
            {"text": "renew", "label": "sales-existing"},  # right turn, then wrong
            {"text": "broken", "label": "support"},  # right
            {"text": "seats", "label": "sales-existing"},  # wrong at once: the second node never decides
            {"text": "sales q", "label": "sales"},  # right; the second decision is not judged
            {"text": "upgrade", "label": ["sales-new", "support"]},  # right
        ]
    )
    (run,) = report(kit, path, data)["runs"]
    assert (run["correct"], run["scored"]) == (4, 6)
    nodes = run["routing_nodes"]
    assert {k: nodes["router"][k] for k in ("decisions", "right", "wrong", "unjudged")} == {
        "decisions": 6,
        "right": 5,
        "wrong": 1,
        "unjudged": 0,
    }
    assert {k: nodes["sales"][k] for k in ("decisions", "right", "wrong", "unjudged")} == {
        "decisions": 3,
        "right": 1,
        "wrong": 1,
        "unjudged": 1,
    }
    confusion = dict(zip(run["confusion"]["labels"], run["confusion"]["matrix"], strict=True))
    labels = run["confusion"]["labels"]
    assert labels == ["sales", "support", "sales-new", "sales-existing"]
    assert confusion["sales-existing"] == [0, 1, 1, 0]  # one went to support, one to sales-new
    (renew, seats) = run["misrouted"]
    assert seats["route"] == ["router", "support", "output"]
    assert renew["route"] == ["router", "sales", "sales-new", "output"]
    assert [d["node"] for d in renew["decisions"] if "strategy" in d] == ["router", "sales"]
    text = kit.invoke("eval", path, data).stdout
    assert "(unjudged: the label was already reached, or an earlier step left its branch)" in text


def test_variables_of_a_request_feed_conditions(kit, host, fake_server, write_composition, write_jsonl):
    server = fake_server("ok")
    path = write_composition(
        {
            "models": {"m": kit.model(server)},
            "architecture": [
                {"name": "entry", "layer": 0, "model": "m", "output-to": [1]},
                {"name": "vip", "layer": 1, "model": "m", "if": "$TIER == gold", "output-to": ["output"]},
                {"name": "std", "layer": 1, "model": "m", "if": "not $TIER == gold", "output-to": ["output"]},
                {"name": "output", "adapter": "output"},
            ],
        }
    )
    rows = [
        {"text": "a", "label": "vip", "variables": {"TIER": "gold"}},
        {"text": "b", "label": "std", "variables": {"TIER": "free"}},
        {"text": "c", "label": "vip"},
    ]
    (run,) = report(kit, path, write_jsonl(rows))["runs"]
    assert (run["correct"], [m["line"] for m in run["misrouted"]]) == (2, [3])
    assert run["routing_nodes"] == {} and run["latency_ms"] == {"p50": None, "p90": None}
    assert run["misrouted"][0]["decisions"][0]["conditions"] == {"vip": False, "std": True}
    (run,) = report(kit, path, write_jsonl(rows), "--var", "TIER=gold")["runs"]
    assert run["correct"] == 3  # "c" gets TIER from --var; "b" keeps its own, which wins


def test_requests_that_fail_are_counted_apart(kit, host, support):
    # the router's server fails every call about the first request, however often it is asked
    support.router.fault = lambda request: "500" if kit.last_user(request) == "I was charged twice" else None
    (run,) = report(kit, support.composition, support.data)["runs"]
    assert (run["errors"], run["scored"], run["correct"]) == (1, 5, 3)
    (failed,) = run["failed"]
    assert failed["line"] == 1 and failed["type"] == "BackendError" and "500" in failed["error"]
    text = kit.invoke("eval", support.composition, support.data).stdout
    assert "errors    1 (not counted in accuracy; listed below)" in text
    assert "failed (1)" in text and "  line 1  BackendError:" in text


def test_every_request_failing_ends_the_run(kit, host, write_composition, write_jsonl):
    from llmnet_testing import free_port

    down = type("Down", (), {"url": f"http://127.0.0.1:{free_port()}"})
    path = write_composition(kit.one_layer(down, down))
    data = write_jsonl([{"text": "x", "label": "tech"}, {"text": "y", "label": "sales"}])
    result = kit.invoke("eval", path, data)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith('error: every request failed; line 1: node "router": could not reach')
    result = kit.invoke("eval", path, data, "--format", "json")
    assert result.exit_code == 1 and json.loads(result.stdout)["runs"][0]["errors"] == 2


CANARY = "sk-canary-7f3a9c1e5d2b8a4f6e0c"


def test_secrets_are_never_printed(kit, host, fake_server, write_composition, write_jsonl):
    router = fake_server(
        lambda request: f"sales, as {CANARY} says" if CANARY in last(request) else "billing", name="router"
    )
    path = write_composition(kit.one_layer(router, fake_server("ok"), **{"api-key": "$EVAL_CANARY_KEY"}))
    data = write_jsonl(
        [
            {"text": "refund", "label": "billing"},  # fails: the server quotes the key in its error
            {
                "text": f"my key is {CANARY}, charge me",
                "label": "billing",
            },  # misrouted, the key in the answer
            {"text": "bill", "label": "billing"},
        ]
    )
    env = {"EVAL_CANARY_KEY": CANARY}
    for fmt in ("text", "json"):
        router.push(status=401, body=json.dumps({"error": {"message": f"bad key {CANARY}"}}))
        result = kit.invoke("eval", path, data, "--format", fmt, env=env)
        assert result.exit_code == 0, result.stderr
        assert CANARY not in result.stdout + result.stderr
        assert "***" in result.stdout
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in router.chat_requests)


def last(request: dict[str, Any]) -> str:
    return request["messages"][-1]["content"]


def test_json_schema_from_a_real_subprocess(kit, fake_server, write_composition, write_jsonl, tmp_path):
    router = fake_server(kit.answers(kit.ROUTER_ANSWERS))
    path = write_composition(kit.one_layer(router, fake_server("ok")))
    data = write_jsonl(kit.LABELLED)
    env = dict(os.environ)
    done = kit.llmnet("eval", path, data, "--format", "json", "--min-accuracy", "0.9", env=env)
    assert done.returncode == 1, done.stderr  # 4 of 6 is below 0.9
    assert done.stderr == ""
    data = json.loads(done.stdout)
    assert set(data) == {
        "composition",
        "data",
        "requests",
        "mode",
        "routing",
        "runs",
        "min_accuracy",
        "passed",
        "warnings",
    }
    assert (data["passed"], data["min_accuracy"], data["routing"]) == (False, 0.9, {"router": "llm"})
    (run,) = data["runs"]
    assert set(run) == {
        "strategy",
        "requests",
        "scored",
        "correct",
        "errors",
        "accuracy",
        "latency_ms",
        "kinds",
        "confusion",
        "handlers",
        "routing_nodes",
        "misrouted",
        "failed",
        "error",
    }
    assert set(run["handlers"]["billing"]) == {"precision", "recall", "requests", "routed", "right"}
    assert set(run["misrouted"][0]) == {"line", "text", "labels", "routed_to", "route", "decisions"}
    done = kit.llmnet("eval", path, data_path := write_jsonl(kit.LABELLED), "--min-accuracy", "0.5", env=env)
    assert done.returncode == 0 and "passed: accuracy must be at least 50.0 %" in done.stdout
    assert data_path.exists()
