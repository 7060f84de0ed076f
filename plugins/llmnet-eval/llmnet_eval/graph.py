"""What a composition's edges say about labels: which nodes lead to which, which nodes route, and which
candidates of a routing decision are right for a labelled request."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any


class Routes:
    """The routing graph of one composition (`Pipeline.composition`)."""

    def __init__(self, composition: Any) -> None:
        self.targets: Mapping[str, Sequence[str]] = composition.targets
        self.entry: str = composition.entry
        self.order = list(composition.nodes)  # file order, for tables
        self.outputs = frozenset(n for n in self.order if composition.is_output(n))
        self.reachable = frozenset(composition.reachable) | {self.entry}
        self.default_strategy: str = composition.file.settings.router
        self.strategies = {
            name: node.router or self.default_strategy
            for name, node in composition.nodes.items()
            if len(self.targets.get(name, ())) > 1
        }
        self._reach: dict[str, frozenset[str]] = {}

    @property
    def routing_nodes(self) -> list[str]:
        """Nodes with several targets: those a routing strategy may have to choose for."""
        return [n for n in self.order if n in self.strategies]

    def reach(self, node: str) -> frozenset[str]:
        """`node` and every node a request can go to after it."""
        if node not in self._reach:
            seen = {node}
            stack = [node]
            while stack:
                for target in self.targets.get(stack.pop(), ()):
                    if target not in seen:
                        seen.add(target)
                        stack.append(target)
            self._reach[node] = frozenset(seen)
        return self._reach[node]

    def acceptable(self, candidates: Iterable[str], labels: Collection[str]) -> list[str]:
        """The candidates from which a request can still reach one of `labels`."""
        return [c for c in candidates if not self.reach(c).isdisjoint(labels)]

    def handler_of(self, route: Sequence[str]) -> str:
        """Where a route ended: its last node that is not an output node."""
        for node in reversed(route):
            if node not in self.outputs:
                return node
        return route[-1] if route else self.entry

    def sort(self, names: Iterable[str]) -> list[str]:
        """Node names in the composition's order (unknown names last, alphabetically)."""
        rank = {n: i for i, n in enumerate(self.order)}
        return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def with_strategy(composition: Any, strategy: str) -> Any:
    """A copy of a composition in which every node that chooses between several targets uses `strategy`.

    A node keeps its `router-options` only when it already used `strategy`: the options of one strategy
    mean nothing to another (the `llm` strategy would send them to the model as parameters).
    """
    default = composition.file.settings.router
    nodes = []
    for node in composition.file.architecture:
        if len(composition.targets.get(node.name, ())) > 1:
            options = node.router_options if (node.router or default) == strategy else {}
            node = node.model_copy(update={"router": strategy, "router_options": options})
        nodes.append(node)
    file = composition.file.model_copy(update={"architecture": nodes})
    return dataclasses.replace(composition, file=file)
