"""The words on a node, the same for every writer: its name, then one line each for its model (with its
fallbacks), its routing strategy, its kind when a plugin provides it, and each hook."""

from __future__ import annotations

from .model import Node

#: how long a condition may be on an edge before it is cut (the whole of it is in the composition)
CONDITION_LIMIT = 48


def node_lines(node: Node) -> list[str]:
    """The lines of a node's label, its name first."""
    lines = [node.name]
    if node.role == "entry":
        lines[0] += " (entry)"
    if node.model:
        model = f"model: {node.model}"
        if node.fallback:
            model += f" → fallback: {', '.join(node.fallback)}"
        lines.append(model)
    elif node.fallback:
        lines.append(f"fallback: {', '.join(node.fallback)}")
    if node.role == "delegate":
        lines.append(f"{node.adapter} node")
    if node.strategy:
        lines.append(f"routes: {node.strategy}")
    lines += [f"{hook.phase} hook: {hook.function} ({hook.mode})" for hook in node.hooks]
    if not node.reachable:
        lines.append("never reached")
    return lines


def condition_label(condition: str | None) -> str | None:
    """An edge's label: the target's `if` on one line, cut to CONDITION_LIMIT characters."""
    if not condition:
        return None
    text = " ".join(condition.split())
    return text if len(text) <= CONDITION_LIMIT else text[: CONDITION_LIMIT - 1] + "…"
