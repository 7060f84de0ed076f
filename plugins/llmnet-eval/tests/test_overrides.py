"""`llmnet eval --set PATH=VALUE`: the requests are routed by the composition with the changes, and a bad
change is a usage error at its place (`llmnet tune --set` is tested in test_tune.py)."""

from __future__ import annotations

import json
from typing import Any


def test_eval_measures_the_overridden_composition(kit, host, support, fake_server):
    right = {**kit.ROUTER_ANSWERS, "Upgrade my plan": "sales", "The printer is on fire": "tech"}
    perfect = fake_server(kit.answers(right), name="perfect")
    result = kit.invoke(
        "eval",
        support.composition,
        support.data,
        "--format",
        "json",
        "--set",
        f"models.r.url={perfect.url}",
        "-o",
        "models.r.parameters.temperature=0",
    )
    assert result.exit_code == 0, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    assert (run["correct"], run["scored"]) == (6, 6)
    assert not support.router.chat_requests
    assert {r.json["temperature"] for r in perfect.chat_requests} == {0}


def test_eval_reports_a_bad_override_at_its_place(kit, host, support):
    result: Any = kit.invoke("eval", support.composition, support.data, "--set", "models.r.type=cloud")
    assert result.exit_code == 2
    assert "models.r.type" in result.stderr
    unknown = kit.invoke("eval", support.composition, support.data, "--set", "architecture.biling.layer=2")
    assert unknown.exit_code == 2
    assert (
        'error: --set architecture.biling.layer=2: architecture has no entry named "biling"' in unknown.stderr
    )
    assert 'did you mean "billing"?' in unknown.stderr
