"""The bundled default pipeline (`llmnet run PROMPT`, `llmnet init`), the progress reporting that slow
steps use, and the backend capabilities routers rely on."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmnet_core import Backend, BackendError, ModelSpec, Resources, activity
from llmnet_core.cli import cli
from llmnet_core.composition import default_composition_path, read_composition
from llmnet_core.plugins import PluginHost, reset_host
from llmnet_core.progress import StderrReporter, add_listener


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(cli, list(args), obj={}, **kwargs)


def test_the_default_pipeline_is_a_router_and_handlers_on_the_embedded_model_and_a_calculator():
    """Everything local: the embedded chat model, the calculator, and the bundled sentence encoder that
    the router embeds with (a decision in milliseconds), following conversations with `sticky`."""
    data, problems = read_composition(default_composition_path())
    assert not problems
    nodes = {n["name"]: n for n in data["architecture"]}
    handlers = [n for n in nodes.values() if n.get("layer") == 1]
    assert len(handlers) >= 2 and all(n.get("use-case") and n.get("examples") for n in handlers)
    models = data["models"]
    local = ("llama-cpp", "calculator", "sentence-encoder")
    assert all(m.get("runner") in local and "url" not in m for m in models.values())
    router = nodes["router"]
    assert router["router"] == "semantic"
    assert models[router["router-options"]["embedding-model"]]["runner"] == "sentence-encoder"
    assert router["router-options"]["sticky"] > 0
    # arithmetic goes to the calculator, and only when it finds something to compute
    assert models[nodes["math"]["model"]]["runner"] == "calculator"
    assert nodes["math"]["if"] == "calculable($INPUT)"
    assert models[nodes["facts"]["model"]]["runner"] == "llama-cpp" and nodes["facts"].get("context")


def test_the_default_pipeline_was_not_written_from_the_answer_set():
    answer_set = Path(__file__).resolve().parent.parent / "benchmarks" / "answers" / "questions.jsonl"
    if not answer_set.is_file():
        pytest.skip("no answer set in this checkout")
    lines = answer_set.read_text(encoding="utf-8").splitlines()
    questions = {json.loads(line)["question"].casefold() for line in lines if line.strip()}
    data, _ = read_composition(default_composition_path())
    for node in data["architecture"]:
        shown = [*node.get("examples", []), *re.findall(r"Question: (.*)", node.get("context", ""))]
        assert not [text for text in shown if text.casefold() in questions], node["name"]


def test_init_writes_the_default_pipeline_and_never_overwrites(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init")
    assert result.exit_code == 0 and "llmnet.jsonc" in result.stderr
    written = (tmp_path / "llmnet.jsonc").read_text()
    assert written == default_composition_path().read_text()
    (tmp_path / "llmnet.jsonc").write_text("mine")
    result = invoke("init")
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "llmnet.jsonc").read_text() == "mine"
    assert invoke("init", "--force").exit_code == 0
    assert (tmp_path / "llmnet.jsonc").read_text() == written
    assert not list(tmp_path.glob(".*partial"))


def test_init_dash_prints_it(tmp_path: Path):
    result = invoke("init", "-")
    assert result.exit_code == 0 and '"architecture"' in result.stdout


def test_init_into_a_missing_folder_is_a_clear_error(tmp_path: Path):
    result = invoke("init", str(tmp_path / "nope" / "x.jsonc"))
    assert result.exit_code == 2 and "cannot write" in result.stderr
    assert "Traceback" not in result.output


def test_run_without_a_composition_needs_the_llamacpp_plugin(monkeypatch):
    monkeypatch.setenv("LLMNET_BLOCK_PLUGINS", "llmnet-llamacpp")
    previous = reset_host(PluginHost())
    try:
        result = invoke("run", "What", "is", "the", "capital", "of", "France?")
    finally:
        reset_host(previous)
    assert result.exit_code == 2
    assert "llama-cpp" in result.stderr and "pip install llmnet-llamacpp" in result.stderr
    assert "default.jsonc" in result.stderr


def test_run_without_a_composition_needs_the_calc_plugin(monkeypatch):
    monkeypatch.setenv("LLMNET_BLOCK_PLUGINS", "llmnet-calc")
    previous = reset_host(PluginHost())
    try:
        result = invoke("run", "What", "is", "2", "+", "2?")
    finally:
        reset_host(previous)
    assert result.exit_code == 2
    assert '"calculator"' in result.stderr and "pip install llmnet-calc" in result.stderr


def test_activity_reaches_listeners_with_its_duration():
    events: list[tuple[str, str]] = []
    remove = add_listener(lambda event, text, seconds: events.append((event, text)))
    try:
        with activity("loading thing"):
            pass
        with pytest.raises(ValueError), activity("failing thing"):
            raise ValueError("x")
    finally:
        remove()
    with activity("after removal"):
        pass
    assert events == [
        ("start", "loading thing"),
        ("end", "loading thing"),
        ("start", "failing thing"),
        ("fail", "failing thing"),
    ]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reporter_on_a_terminal_ends_each_activity_with_a_mark():
    stream = FakeTerminal()
    reporter = StderrReporter(stream)
    reporter("start", "loading model", 0)
    reporter("end", "loading model", 0.42)
    reporter("start", "loading other", 0)
    reporter("fail", "loading other", 1.0)
    text = stream.getvalue()
    assert "✓ loading model (0.4 s)" in text and "✗ loading other (1.0 s)" in text


def test_reporter_elsewhere_writes_plain_lines():
    stream = io.StringIO()
    reporter = StderrReporter(stream)
    reporter("start", "loading model", 0)
    reporter("end", "loading model", 0.4)
    reporter("start", "loading other", 0)
    reporter("fail", "loading other", 2.0)
    assert stream.getvalue().splitlines() == [
        "loading model …",
        "loading other …",
        "loading other: failed after 2.0 s",
    ]


async def test_backends_without_routing_capabilities_say_so():
    class Plain(Backend):
        async def complete(self, request):  # pragma: no cover - never called here
            raise AssertionError

    plain = Plain(ModelSpec(name="m", backend="plain"), Resources())
    await plain.prepare()  # a no-op by default
    with pytest.raises(BackendError) as caught:
        await plain.embed(["x"])
    assert 'model "m" (plain backend) cannot compute embeddings' in caught.value.message
    with pytest.raises(BackendError) as caught:
        await plain.score_choices([], ["a"])
    assert "cannot score" in caught.value.message and "another routing strategy" in (caught.value.hint or "")


def test_json_output_of_init_file_is_valid_jsonc(tmp_path: Path):
    target = tmp_path / "p.jsonc"
    assert invoke("init", str(target)).exit_code == 0
    data, problems = read_composition(target)
    assert not problems and json.dumps(data)
