"""`llmnet tune` through the command line, on an in-process backend whose embeddings are hashed word
counts (fast and exact; the bundled model is tested in test_tune_bundled_model.py), and
`llmnet_core.node_embedder`, which it gets embeddings from."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmnet_core import (
    Backend,
    ChatRequest,
    ChatResponse,
    Pipeline,
    RoutingError,
    UsageError,
    get_host,
    hookimpl,
    load_composition,
    node_embedder,
)

DIM = 64


class Words(Backend):
    """Embeds a text as counts of its words, hashed into DIM buckets."""

    calls: list[tuple[list[str], bool]] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="ok")

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        Words.calls.append((list(texts), persist))
        vectors = []
        for text in texts:
            vector = [0.0] * DIM
            for word in re.findall(r"[a-z]+", text.lower()):
                vector[zlib.crc32(word.encode()) % DIM] += 1.0
            vectors.append(vector)
        return vectors


class Plugin:
    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("words", Words)


@pytest.fixture(autouse=True)
def words(register_plugin):
    register_plugin(Plugin(), "words-plugin")
    Words.calls = []


COMPOSITION = """{
  // the support desk
  "models": { "m": { "backend": "words" } },
  "architecture": [
    { "name": "router", "layer": 0, "model": "m", "router": "semantic", "output-to": [1] },
    {
      "name": "billing", // money matters
      "layer": 1,
      "model": "m",
      "use-case": "invoices and payments",
      "output-to": ["output"]
    },
    { "name": "shipping", "layer": 1, "model": "m", "use-case": "parcels", "output-to": ["output"] },
    /* requests that fit nowhere */
    { "name": "other", "layer": 1, "model": "m", "output-to": ["output"] },
    { "name": "output", "adapter": "output" }
  ]
}
"""
REQUESTS = {
    "billing": [
        "refund my card charge",
        "my card was charged twice, refund please",
        "the invoice charge is wrong",
        "refund the invoice",
        "charged twice for one invoice",
        "why was my card charged",
    ],
    "shipping": [
        "my parcel is late",
        "where is my parcel",
        "delivery tracking number please",
        "the courier lost my parcel",
        "courier delivery is late",
        "parcel tracking shows nothing",
    ],
    "other": [
        "tell me a joke",
        "weather today",
        "play some music",
        "what time is it",
        "book a flight",
        "recipe for cake",
    ],
}


@pytest.fixture
def desk(tmp_path: Path, write_jsonl) -> Any:
    path = tmp_path / "desk.jsonc"
    path.write_text(COMPOSITION, encoding="utf-8")
    rows = [{"text": text, "label": label} for label, texts in REQUESTS.items() for text in texts]
    return type("Desk", (), {"path": path, "data": write_jsonl(rows)})


def registries() -> Any:
    return get_host().registries


def examples_of(path: Path) -> dict[str, list[str]]:
    composition = load_composition(path, registries=registries())
    return {name: list(node.examples) for name, node in composition.nodes.items()}


def test_without_write_it_shows_the_diff_and_writes_nothing(kit, host, desk):
    before = desk.path.read_bytes()
    result = kit.invoke("tune", desk.path, desk.data, "--examples", "2")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "router (semantic): 18 labelled requests over 3 handlers" in out
    assert re.search(r"accuracy, 5-fold cross-validated: before \d+\.\d % → after \d+\.\d %", out)
    assert f"--- {desk.path}\n+++ {desk.path}\n" in out and '+      "examples": [' in out
    assert f"not written: add --write to change {desk.path}, or --output NEW_FILE" in result.stderr
    assert desk.path.read_bytes() == before
    assert sorted(p.name for p in desk.path.parent.iterdir()) == ["desk.jsonc", desk.data.name]


def test_write_keeps_comments_and_the_file_validates(kit, host, desk):
    result = kit.invoke("tune", desk.path, desk.data, "--examples", "2", "--write")
    assert result.exit_code == 0, result.stderr
    assert f"wrote {desk.path}" in result.stderr
    text = desk.path.read_text(encoding="utf-8")
    for comment in ("// the support desk", "// money matters", "/* requests that fit nowhere */"):
        assert comment in text
    examples = examples_of(desk.path)
    for label, texts in REQUESTS.items():
        assert 1 <= len(examples[label]) <= 2 and set(examples[label]) <= set(texts)
    assert sorted(p.name for p in desk.path.parent.iterdir()) == ["desk.jsonc", desk.data.name]
    again = kit.invoke("tune", desk.path, desk.data, "--examples", "2", "--write")
    assert again.exit_code == 0 and "nothing to change" in again.stderr
    evaluated = json.loads(kit.invoke("eval", desk.path, desk.data, "--format", "json").stdout)
    assert evaluated["runs"][0]["accuracy"] > 0.5


def test_requests_are_never_offered_to_a_disk_cache(kit, host, desk):
    kit.invoke("tune", desk.path, desk.data)
    labelled = {t for texts in REQUESTS.values() for t in texts}
    persisted = {t for texts, persist in Words.calls if persist for t in texts}
    assert persisted and not persisted & labelled  # only the use-cases


def test_fallback_fits_min_score(kit, host, desk):
    result = kit.invoke("tune", desk.path, desk.data, "--examples", "2", "--fallback", "other", "--write")
    assert result.exit_code == 0, result.stderr
    options = load_composition(desk.path, registries=registries()).nodes["router"].router_options
    assert options["fallback"] == "other" and isinstance(options["min-score"], float)
    assert re.search(
        rf'min-score {options["min-score"]}: requests whose best score is lower go to "other"', result.stdout
    )
    assert '"router-options": {"fallback": "other", "min-score": ' in desk.path.read_text(encoding="utf-8")
    (run,) = json.loads(kit.invoke("eval", desk.path, desk.data, "--format", "json").stdout)["runs"]
    assert run["accuracy"] > 0.5


def test_output_writes_a_new_file_and_never_replaces_one(kit, host, desk):
    before = desk.path.read_bytes()
    target = desk.path.with_name("tuned.jsonc")
    result = kit.invoke("tune", desk.path, desk.data, "--output", target)
    assert result.exit_code == 0 and f"wrote {target}" in result.stderr
    assert f"+++ {target}" in result.stdout
    assert desk.path.read_bytes() == before and "// money matters" in target.read_text(encoding="utf-8")
    assert target.stat().st_mode == desk.path.stat().st_mode
    result = kit.invoke("tune", desk.path, desk.data, "--output", target)
    assert result.exit_code == 2 and f"{target} already exists" in result.stderr


def test_write_and_output_together_are_refused(kit, host, desk):
    result = kit.invoke("tune", desk.path, desk.data, "--write", "--output", "x.json")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_a_composition_without_a_semantic_router_is_refused(kit, host, desk):
    desk.path.write_text(COMPOSITION.replace('"router": "semantic", ', ""), encoding="utf-8")
    result = kit.invoke("tune", desk.path, desk.data)
    assert result.exit_code == 2
    assert "no node routes with the semantic strategy (routing nodes: router (llm))" in result.stderr
    assert 'set "router": "semantic" on the node that routes' in result.stderr


def test_a_fallback_that_is_no_target_is_refused(kit, host, desk):
    result = kit.invoke("tune", desk.path, desk.data, "--fallback", "others")
    assert result.exit_code == 2
    assert (
        '--fallback: "others" is not a target of a semantic routing node (did you mean "other"?)'
        in result.stderr
    )


def test_bad_data_is_refused_before_anything_runs(kit, host, desk, write_jsonl):
    result = kit.invoke("tune", desk.path, write_jsonl([{"text": "x", "label": "biling"}]))
    assert result.exit_code == 2 and 'did you mean "billing"?' in result.stderr and Words.calls == []


def test_a_backend_without_embeddings_is_a_clear_error(kit, host, desk, fake_server):
    server = fake_server("ok")
    desk.path.write_text(
        COMPOSITION.replace('{ "backend": "words" }', json.dumps({"type": "external", "url": server.url})),
        encoding="utf-8",
    )
    result = kit.invoke("tune", desk.path, desk.data)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        'error: node "router": model "m" (openai-api backend) cannot compute embeddings'
    )


async def test_node_embedder_gives_the_vectors_a_router_gets(host, desk):
    async with Pipeline.from_file(desk.path) as pipeline:
        embed = node_embedder(pipeline, "router")
        (vector,) = await embed(["refund refund"])
        assert sum(vector) == 2.0 and Words.calls == [(["refund refund"], False)]
        await embed(["a use-case"], "m", persist=True)
        assert Words.calls[-1] == (["a use-case"], True)
        with pytest.raises(UsageError, match='no node named "nobody"'):
            node_embedder(pipeline, "nobody")
        with pytest.raises(RoutingError, match='node "output" has no model to compute embeddings'):
            await node_embedder(pipeline, "output")(["x"])


def test_a_text_that_cannot_be_edited_in_place_is_written_only_as_a_new_plain_file(kit, host, desk):
    # NaN is read by the composition loader (as Python's json module reads it) but is not JSON
    text = COMPOSITION.replace('{ "backend": "words" }', '{ "backend": "words", "parameters": { "x": NaN } }')
    desk.path.write_text(text, encoding="utf-8")
    result = kit.invoke("tune", desk.path, desk.data, "--write")
    assert result.exit_code == 2 and desk.path.read_text(encoding="utf-8") == text
    assert "cannot be edited in place" in result.stderr and "give --output NEW_FILE" in result.stderr
    target = desk.path.with_name("plain.json")
    result = kit.invoke("tune", desk.path, desk.data, "--output", target)
    assert result.exit_code == 0, result.stderr
    assert "is written as plain JSON, without its comments" in result.stderr
    assert examples_of(target)["billing"] and "//" not in target.read_text(encoding="utf-8")


def test_set_changes_the_composition_tuned_and_is_refused_with_write_or_output(kit, host, desk):
    desk.path.write_text(COMPOSITION.replace('"router": "semantic", ', ""), encoding="utf-8")
    before = desk.path.read_bytes()
    semantic = ("--set", "architecture.router.router=semantic")
    result = kit.invoke("tune", desk.path, desk.data, "--examples", "2", *semantic)
    assert result.exit_code == 0, result.stderr
    assert "router (semantic): 18 labelled requests over 3 handlers" in result.stdout
    assert '+      "examples": [' in result.stdout and desk.path.read_bytes() == before
    assert "not written: --set changes are for this run only" in result.stderr
    for option in (["--write"], ["--output", desk.path.with_name("tuned.jsonc")]):
        refused = kit.invoke("tune", desk.path, desk.data, *option, *semantic)
        assert refused.exit_code == 2
        said = f"--set changes the composition for this run only, and {option[0]} would write"
        assert said in refused.stderr
    assert desk.path.read_bytes() == before and not desk.path.with_name("tuned.jsonc").exists()
