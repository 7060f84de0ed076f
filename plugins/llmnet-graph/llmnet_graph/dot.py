"""The pipeline as Graphviz DOT, and as SVG or PNG drawn by Graphviz's `dot` program when it is
installed: one rank per layer, conditions on the edges, hooks and fallbacks in the node's label,
unreachable nodes greyed and dashed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from llmnet_core import UsageError

from .labels import condition_label, node_lines
from .model import Graph, Node

#: node shape and styles by role
SHAPES = {
    "entry": ("box", ("rounded", "bold")),
    "handler": ("box", ("rounded",)),
    "output": ("ellipse", ()),
    "delegate": ("component", ()),
}
GREY = 'color="#bbbbbb", fontcolor="#999999"'
#: seconds `dot` may take to draw a picture
DOT_TIMEOUT = 60.0


def dot(graph: Graph) -> str:
    """DOT text for `graph`, ending with a newline."""
    ids = {node.name: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = [
        f"digraph {_quote(graph.name or 'llmnet')} {{",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=11];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for layer, nodes in graph.layers():
        if layer is None:
            lines += [f"  {_node(ids[n.name], n)}" for n in nodes]
            continue
        lines += [
            f"  subgraph cluster_layer{layer} {{",
            f'    label="layer {layer}"; style=dashed; color="#999999"; fontcolor="#666666";',
            f"    {{ rank=same; {' '.join(ids[n.name] for n in nodes)}; }}",
            *[f"    {_node(ids[n.name], n)}" for n in nodes],
            "  }",
        ]
    for edge in graph.edges:
        attributes = []
        label = condition_label(edge.condition)
        if label:
            attributes.append(f"label={_quote(label)}")
        if not edge.reachable:
            attributes.append(GREY)
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {ids[edge.source]} -> {ids[edge.target]}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node(node_id: str, node: Node) -> str:
    shape, styles = SHAPES[node.role]
    attributes = [f"shape={shape}", f"label={_quote(chr(10).join(node_lines(node)))}"]
    if node.hooks:
        attributes.append("peripheries=2")
    if not node.reachable:
        styles = (*styles, "dashed")
        attributes.append(GREY)
    if styles:
        attributes.append(f'style="{",".join(styles)}"')
    return f"{node_id} [{', '.join(attributes)}];"


def _quote(text: str) -> str:
    """A DOT string: backslashes and quotes escaped, line breaks as DOT's centred `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "\\n".join(escaped.splitlines() or [""]) + '"'


def draw(dot_text: str, fmt: str, target: Path | None) -> bytes:
    """Draw `dot_text` as `fmt` (svg or png) with Graphviz's `dot`, into `target`, or returned when it is
    None; a missing `dot` or a failed drawing is a UsageError that says what to do."""
    program = shutil.which("dot")
    if program is None:
        raise UsageError(
            f"{fmt.upper()} output needs Graphviz's dot program, which is not installed (not on PATH)",
            hint=(
                "install Graphviz (apt-get install graphviz, brew install graphviz, winget install "
                "graphviz), or write text that renders elsewhere: --format mermaid or --format dot"
            ),
        )
    try:
        done = subprocess.run(
            [program, f"-T{fmt}", *(["-o", str(target)] if target else [])],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"dot did not finish drawing the {fmt.upper()} within {DOT_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise UsageError(f"cannot run {program}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        said = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        reason = said or f"exit code {done.returncode}"
        raise UsageError(f"dot could not draw the {fmt.upper()}: {reason}")
    return done.stdout
