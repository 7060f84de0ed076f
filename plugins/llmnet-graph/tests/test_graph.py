"""`llmnet graph`: the pipeline as Mermaid text, Graphviz DOT, and an SVG drawn by Graphviz's `dot` (where
it is installed; where it is not, the error that says so), as users run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from llmnet_graph.model import fallback_models

from llmnet_core.cli import cli

LLMNET = str(Path(sys.executable).with_name("llmnet"))
DOT = shutil.which("dot")
TIMEOUT = 120  # seconds; a bound for a command to finish, never a measure of speed
SVG = "{http://www.w3.org/2000/svg}"


def invoke(*args: Any) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], obj={}, catch_exceptions=False)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr, result.stderr
    return result


def support_desk() -> dict[str, Any]:
    """Two conditional handlers (one with hooks and fallback models), an output, and a node nothing
    reaches: every mark a picture has."""
    model = {"type": "external", "url": "http://127.0.0.1:9"}
    return {
        "name": "support desk",
        "models": {"big": model, "small": model, "tiny": model},
        "functions": {
            "audit": {"type": "rest", "url": "http://127.0.0.1:9/audit"},
            "check": {"type": "shell", "command": "cat"},
        },
        "architecture": [
            {"name": "router", "layer": 0, "model": "small", "output-to": [1]},
            {
                "name": "billing",
                "layer": 1,
                "model": "big",
                "fallback": ["small", "tiny"],
                "if": '$TIER == "gold" and $WORD_COUNT > 3',
                "hooks": {
                    "pre": [{"function": "audit"}],
                    "post": [{"function": "check", "mode": "transform"}],
                },
                "output-to": ["output"],
            },
            {
                "name": "tech",
                "layer": 1,
                "model": "small",
                "if": "$WORD_COUNT <= 3 || $A",
                "output-to": ["output"],
            },
            {"name": "archive", "layer": 3, "model": "tiny", "output-to": ["output"]},
            {"name": "output", "adapter": "output", "layer": 2},
        ],
    }


# -- Mermaid -------------------------------------------------------------------------------------------


def test_mermaid_by_default_with_layers_conditions_hooks_fallbacks_and_grey(host, write_composition):
    result = invoke("graph", write_composition(support_desk()))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    # one subgraph per layer, holding that layer's nodes (ids in file order: n0 router ... n4 output)
    layers = blocks(lines)
    assert {name: [line.split("[")[0].split("(")[0] for line in body] for name, body in layers.items()} == {
        'layer0["layer 0"]': ["n0"],
        'layer1["layer 1"]': ["n1", "n2"],
        'layer2["layer 2"]': ["n4"],
        'layer3["layer 3"]': ["n3"],
    }
    nodes = {line.split("[", 1)[0].split("(", 1)[0]: line for body in layers.values() for line in body}
    assert nodes["n0"] == 'n0(["router (entry)<br/>model: small<br/>routes: llm"])'
    assert nodes["n1"] == (
        'n1["billing<br/>model: big → fallback: small, tiny'
        '<br/>pre hook: audit (observe)<br/>post hook: check (transform)"]'
    )
    assert nodes["n4"] == 'n4(("output"))'
    assert "never reached" in nodes["n3"] and "never reached" not in nodes["n1"]
    # conditions on the edges, with the characters that would end a label as Mermaid entity codes
    assert '  n0 -->|"$TIER == #quot;gold#quot; and $WORD_COUNT #gt; 3"| n1' in lines
    assert '  n0 -->|"$WORD_COUNT #lt;= 3 #124;#124; $A"| n2' in lines
    assert "  n1 --> n4" in lines
    # hooks thicker, the unreachable node and its edge grey
    assert "  class n1 hooked" in lines and "  class n3 unreachable" in lines
    edges = [line for line in lines if "-->" in line]
    assert f"  linkStyle {edges.index('  n3 --> n4')} stroke:#bbbbbb,color:#999999" in lines
    assert 'node "archive" is never reached' in result.stderr  # the warning, as run gives it


def blocks(lines: list[str]) -> dict[str, list[str]]:
    """The subgraphs of a Mermaid flowchart: name → the lines inside, stripped."""
    out: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.strip().startswith("subgraph "):
            current = line.strip().removeprefix("subgraph ")
            out[current] = []
        elif line.strip() == "end":
            current = None
        elif current is not None:
            out[current].append(line.strip())
    return out


def test_the_default_pipeline_without_a_composition(host):
    result = invoke("graph")
    assert result.exit_code == 0, result.stderr
    assert 'n0(["router (entry)<br/>model: local<br/>routes: semantic"])' in result.stdout
    assert '  n0 -->|"calculable($INPUT)"| n1' in result.stdout.splitlines()


def test_set_changes_the_picture_and_a_bad_path_is_an_error(host, write_composition):
    path = write_composition(support_desk())
    result = invoke(
        "graph", path, "--set", "architecture.archive.layer=1", "--set", "architecture.router.output-to=[1]"
    )
    assert result.exit_code == 0, result.stderr
    assert 'n3["archive<br/>model: tiny"]' in blocks(result.stdout.splitlines())['layer1["layer 1"]']
    assert "unreachable" not in result.stdout
    result = invoke("graph", path, "--set", "architecture.archiv.layer=1")
    assert result.exit_code == 2
    assert (
        'architecture has no entry named "archiv"' in result.stderr
        and 'did you mean "archive"' in result.stderr
    )
    result = invoke("graph", path, "--set", "architecture.archive.layer=-1")
    assert result.exit_code == 2 and "architecture[3].layer" in result.stderr


def test_a_mistyped_file_and_an_invalid_composition_are_errors(host, write_composition, tmp_path):
    path = write_composition(support_desk(), "desk.json")
    result = invoke("graph", tmp_path / "desk.jsn")
    assert result.exit_code == 2
    assert "desk.jsn: no such file" in result.stderr and "did you mean" in result.stderr
    broken = support_desk()
    broken["architecture"][0]["output-to"] = ["biling"]
    result = invoke("graph", write_composition(broken))
    assert result.exit_code == 2
    assert 'no node named "biling"' in result.stderr and result.stdout == ""
    assert path.exists()


# -- DOT, SVG and PNG ----------------------------------------------------------------------------------


def test_dot_text_has_a_rank_per_layer_and_the_same_marks(host, write_composition):
    result = invoke("graph", write_composition(support_desk()), "--format", "dot")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith('digraph "support desk" {')
    assert "{ rank=same; n1 n2; }" in text and 'label="layer 1"' in text
    assert 'n0 -> n1 [label="$TIER == \\"gold\\" and $WORD_COUNT > 3"];' in text
    assert "n1 [shape=box" in text and "peripheries=2" in text.split("n1 [", 1)[1].split("\n", 1)[0]
    archive = text.split("n3 [", 1)[1].split("\n", 1)[0]
    assert 'color="#bbbbbb"' in archive and "dashed" in archive
    if DOT:  # Graphviz reads it back: the text is valid DOT, with these nodes and edges
        done = subprocess.run([DOT, "-Tjson"], input=text, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        layout = json.loads(done.stdout)
        names = {o["_gvid"]: o["name"] for o in layout["objects"]}
        edges = {(names[e["tail"]], names[e["head"]]) for e in layout["edges"]}
        assert edges == {("n0", "n1"), ("n0", "n2"), ("n1", "n4"), ("n2", "n4"), ("n3", "n4")}


def _svg_texts(path: Path) -> list[tuple[str, str | None]]:
    """Every text of an SVG with its fill colour."""
    return [(t.text or "", t.get("fill")) for t in ET.parse(path).iter(f"{SVG}text")]


@pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed (the error is tested instead)")
def test_an_svg_drawn_by_dot(write_composition, tmp_path):
    path = write_composition(support_desk())
    target = tmp_path / "pipeline.svg"
    done = subprocess.run(
        [LLMNET, "graph", path, "-o", target], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and f"wrote {target} (svg" in done.stderr
    texts = _svg_texts(target)
    shown = [text for text, _ in texts]
    for expected in (
        "layer 0",
        "layer 3",
        "router (entry)",
        "billing",
        "post hook: check (transform)",
        "output",
    ):
        assert expected in shown
    assert ("never reached", "#999999") in texts  # the unreachable node is grey
    assert ("model: small", "#999999") not in texts
    assert '$TIER == "gold" and $WORD_COUNT > 3' in shown


@pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed (the error is tested instead)")
def test_a_png_drawn_by_dot(write_composition, tmp_path):
    target = tmp_path / "pipeline.png"
    done = subprocess.run(
        [LLMNET, "graph", write_composition(support_desk()), "-o", target],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_without_dot_an_svg_is_a_clear_error(write_composition, tmp_path):
    # a PATH without Graphviz, here or anywhere: the error is what a user without it sees
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare)}
    target = tmp_path / "pipeline.svg"
    done = subprocess.run(
        [LLMNET, "graph", write_composition(support_desk()), "-o", target],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-2] == "error: SVG output needs Graphviz's dot program, which is not installed (not on PATH)"
    assert "apt-get install graphviz" in lines[-1] and "--format mermaid" in lines[-1]
    assert not target.exists() and "Traceback" not in done.stderr


def test_global_options_after_the_command_name(host, write_composition):
    result = invoke("graph", write_composition(support_desk()), "--debug", "--format", "dot")
    assert result.exit_code == 0 and result.stdout.startswith("digraph")


def test_fallbacks_are_read_tolerantly():
    assert fallback_models(SimpleNamespace(fallback=["a", "b"])) == ("a", "b")
    assert fallback_models(SimpleNamespace(fallback="a")) == ("a",)
    assert fallback_models(SimpleNamespace(fallback=[{"model": "a"}, 3, "", "b"])) == ("a", "b")
    assert fallback_models(SimpleNamespace(fallback=None, model_extra={"fallback": ["x"]})) == ("x",)
    assert fallback_models(SimpleNamespace(fallback=None, model_extra=None)) == ()
    assert fallback_models(SimpleNamespace(fallback={"model": "a"})) == ()


def test_the_readme_shows_the_default_pipelines_picture(host):
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    pictures = readme.split("```mermaid\n")[1:]
    assert pictures, "README.md has no Mermaid picture"
    drawn = invoke("graph").stdout
    assert pictures[0].split("```", 1)[0] == drawn, "regenerate it: llmnet graph"
