"""`llmnet tune` as a real subprocess on the bundled model (llama.cpp in-process) with the semantic router:
a small labelled set, so that it stays quick on a slow machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llmnet_eval.jsonc_edit import Parser

pytest.importorskip("llmnet_llamacpp")

COMPOSITION = """{
  // three handlers on the bundled model
  "models": { "local": { "runner": "llama-cpp", "parameters": { "max_tokens": 1 } } },
  "architecture": [
    { "name": "router", "layer": 0, "model": "local", "router": "semantic", "output-to": [1] },
    // each handler is described by its use-case only: tune adds examples
    { "name": "weather", "layer": 1, "model": "local", "use-case": "weather forecasts", "output-to": [2] },
    { "name": "cooking", "layer": 1, "model": "local", "use-case": "recipes and cooking", "output-to": [2] },
    { "name": "sports", "layer": 1, "model": "local", "use-case": "sports and matches", "output-to": [2] },
    { "name": "out", "adapter": "output", "layer": 2 } /* the answer */
  ]
}
"""
REQUESTS = {
    "weather": [
        "Will it rain in Paris tomorrow?",
        "Is it going to snow this weekend?",
        "How hot will it be today?",
    ],
    "cooking": [
        "How long do I boil an egg?",
        "How do I make pancakes?",
        "What temperature for roasting chicken?",
    ],
    "sports": [
        "Who won the tennis final?",
        "When is the next football match?",
        "How many players in a rugby team?",
    ],
}


def test_tune_on_the_bundled_model(kit, tmp_path: Path, write_jsonl):
    path = tmp_path / "local.jsonc"
    path.write_text(COMPOSITION, encoding="utf-8")
    data = write_jsonl([{"text": t, "label": label} for label, texts in REQUESTS.items() for t in texts])
    args = ["tune", path, data, "--examples", "2", "--folds", "3"]

    dry = kit.llmnet(*args, timeout=600)
    assert dry.returncode == 0, dry.stderr
    assert path.read_text(encoding="utf-8") == COMPOSITION  # without --write, nothing changes
    assert "router (semantic): 9 labelled requests over 3 handlers" in dry.stdout
    assert "accuracy, 3-fold cross-validated: before" in dry.stdout
    assert any(line.startswith("+") and '"examples": [' in line for line in dry.stdout.splitlines())

    done = kit.llmnet(*args, "--write", timeout=600)
    assert done.returncode == 0, done.stderr
    text = path.read_text(encoding="utf-8")
    assert "// three handlers on the bundled model" in text and "/* the answer */" in text
    assert "// each handler is described by its use-case only: tune adds examples" in text
    checked = kit.llmnet("validate", path, "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["valid"], checked.stdout
    written = Parser(text).parse().data
    for node in written["architecture"][1:4]:
        assert 1 <= len(node["examples"]) <= 2 and set(node["examples"]) <= set(REQUESTS[node["name"]])
