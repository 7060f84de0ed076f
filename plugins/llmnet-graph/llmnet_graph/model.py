"""What a picture of a pipeline shows, worked out once from a validated composition for every writer:
the nodes by layer with their model, fallbacks, routing strategy and hooks; the edges with the condition
a target must meet; and which nodes no path from the entry reaches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: the adapters of the composition format itself; any other names a node kind a plugin provides
MODEL_ADAPTER = "openai-api"
OUTPUT_ADAPTER = "output"


@dataclass(frozen=True)
class Hook:
    """One hook of a node: `pre` or `post`, the function it calls, `observe` or `transform`."""

    phase: str
    function: str
    mode: str


@dataclass(frozen=True)
class Node:
    """One node as drawn. `role` is entry, handler, output, or delegate (a node kind a plugin provides)."""

    name: str
    layer: int | None
    role: str
    adapter: str
    model: str | None
    fallback: tuple[str, ...]
    strategy: str | None  #: the routing strategy, when the node chooses between several targets
    hooks: tuple[Hook, ...]
    reachable: bool


@dataclass(frozen=True)
class Edge:
    """Where a node's result may go; `condition` is the target's `if`, which must hold for the edge."""

    source: str
    target: str
    condition: str | None
    reachable: bool


@dataclass(frozen=True)
class Graph:
    """A pipeline's picture: its nodes in file order, its edges, and the composition's name."""

    name: str | None
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def layers(self) -> list[tuple[int | None, list[Node]]]:
        """The nodes grouped by layer, lowest first; nodes without a layer (reached by name) last."""
        groups: dict[int | None, list[Node]] = {}
        for node in self.nodes:
            groups.setdefault(node.layer, []).append(node)
        return sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0))


def graph_of(composition: Any) -> Graph:
    """The picture of a validated composition (what `llmnet_core.load_composition` returns)."""
    default_strategy = composition.file.settings.router
    nodes = []
    for config in composition.file.architecture:
        targets = composition.targets.get(config.name, [])
        nodes.append(
            Node(
                name=config.name,
                layer=config.layer,
                role=_role(config, composition.entry),
                adapter=config.adapter,
                model=config.model,
                fallback=fallback_models(config),
                strategy=(config.router or default_strategy) if len(targets) > 1 else None,
                hooks=tuple(_hooks(config)),
                reachable=config.name in composition.reachable,
            )
        )
    conditions = {config.name: config.if_ for config in composition.file.architecture}
    edges = tuple(
        Edge(source, target, conditions.get(target), source in composition.reachable)
        for source, targets in composition.targets.items()
        for target in targets
    )
    return Graph(composition.file.name, tuple(nodes), edges)


def fallback_models(config: Any) -> tuple[str, ...]:
    """A node's `fallback` models, read tolerantly: a name or a list of names (entries that are objects
    give their `model`); anything else shows nothing."""
    value = getattr(config, "fallback", None)
    if value is None:
        value = (getattr(config, "model_extra", None) or {}).get("fallback")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, dict):
        return ()
    names = [item.get("model") if isinstance(item, dict) else item for item in value]
    return tuple(name for name in names if isinstance(name, str) and name)


def _role(config: Any, entry: str) -> str:
    if config.adapter == OUTPUT_ADAPTER:
        return "output"
    if config.name == entry:
        return "entry"
    return "handler" if config.adapter == MODEL_ADAPTER else "delegate"


def _hooks(config: Any) -> Iterable[Hook]:
    for phase in ("pre", "post"):
        for hook in getattr(config.hooks, phase):
            yield Hook(phase, hook.function, hook.mode)
