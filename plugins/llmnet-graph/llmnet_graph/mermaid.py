"""The pipeline as a Mermaid flowchart (GitHub and most documentation sites draw it): one subgraph per
layer, conditions on the edges, hooks and fallbacks in the node's label, unreachable nodes greyed."""

from __future__ import annotations

from .labels import condition_label, node_lines
from .model import Graph, Node

#: node shapes by role: the entry a stadium, handlers boxes, outputs circles, delegated nodes subroutines
SHAPES = {"entry": ("([", "])"), "handler": ("[", "]"), "output": ("((", "))"), "delegate": ("[[", "]]")}
#: characters that would end a quoted label or read as markup, as Mermaid's entity codes
ESCAPES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "|": "#124;"}
GREY = "fill:#f4f4f4,stroke:#bbbbbb,color:#999999,stroke-dasharray:4 3"


def mermaid(graph: Graph) -> str:
    """Mermaid flowchart text for `graph`, ending with a newline."""
    ids = {node.name: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    if graph.name:
        lines.append(f"  %% {' '.join(graph.name.split())}")
    for layer, nodes in graph.layers():
        if layer is None:
            lines += [f"  {_node(ids[n.name], n)}" for n in nodes]
            continue
        lines.append(f'  subgraph layer{layer}["layer {layer}"]')
        lines += [f"    {_node(ids[n.name], n)}" for n in nodes]
        lines.append("  end")
    for edge in graph.edges:
        label = condition_label(edge.condition)
        arrow = f'-->|"{_escape(label)}"|' if label else "-->"
        lines.append(f"  {ids[edge.source]} {arrow} {ids[edge.target]}")
    lines += _styles(graph, ids)
    return "\n".join(lines) + "\n"


def _node(node_id: str, node: Node) -> str:
    opening, closing = SHAPES[node.role]
    text = "<br/>".join(_escape(line) for line in node_lines(node))
    return f'{node_id}{opening}"{text}"{closing}'


def _styles(graph: Graph, ids: dict[str, str]) -> list[str]:
    lines = []
    hooked = [ids[n.name] for n in graph.nodes if n.hooks and n.reachable]
    unreachable = [ids[n.name] for n in graph.nodes if not n.reachable]
    if hooked:
        lines += ["  classDef hooked stroke-width:3px", f"  class {','.join(hooked)} hooked"]
    if unreachable:
        lines += [f"  classDef unreachable {GREY}", f"  class {','.join(unreachable)} unreachable"]
    grey_edges = [str(i) for i, edge in enumerate(graph.edges) if not edge.reachable]
    if grey_edges:
        lines.append(f"  linkStyle {','.join(grey_edges)} stroke:#bbbbbb,color:#999999")
    return lines


def _escape(text: str) -> str:
    return "".join(ESCAPES.get(c, c) for c in " ".join(text.split()))
