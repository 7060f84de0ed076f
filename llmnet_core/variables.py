"""The variables a request carries through the pipeline ($NODE, $PREV_NODE, $WORD_COUNT, ...)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .composition import NodeConfig
from .registry import Registries

#: the variables every request carries (`OUTPUT` in post-hooks only). `--var` values, the variables a
#: `serve` client may send and those plugins compute come on top, under names of their own.
REQUEST_VARIABLES = (
    "INITIAL_INPUT",
    "CURRENT_INPUT",
    "INPUT",
    "OUTPUT",
    "NODE",
    "PREV_NODE",
    "PREV_LAYER",
    "CURRENT_LAYER",
    "HOP_COUNT",
    "WORD_COUNT",
    "INPUT_LENGTH",
    "REQUEST_ID",
    "TIMESTAMP",
    "ROUTE_DECISION",
)


class VariableScope:
    """Tracks where a request is and computes the variables that conditions and hooks see."""

    def __init__(
        self,
        initial_input: str,
        request_id: str,
        custom: Mapping[str, Any],
        registries: Registries,
        nodes: Mapping[str, NodeConfig],
    ) -> None:
        self.initial_input = initial_input
        self.current_input = initial_input
        self.request_id = request_id
        self.timestamp = int(time.time())
        self.custom = dict(custom)
        self.registries = registries
        self.nodes = nodes
        self.node: str | None = None
        self.layer: int | None = None
        self.hop_count = 0
        self.route_decision: str | None = None
        self.last_conditions: dict[str, bool] = {}

    def enter(self, node: NodeConfig, data: str, hops: int) -> None:
        """The request arrives at `node`, its `hops`-th handler hop (0 for the entry, which is no hop).

        As in the earlier llmnet, a hop is recorded as it is taken: from then on, in the node's hooks and
        while it chooses the next one, PREV_NODE/PREV_LAYER name the node itself and HOP_COUNT includes it.
        """
        self.node, self.layer = node.name, node.level
        self.hop_count = hops
        self.current_input = data
        self.last_conditions = {}

    def set_input(self, data: str) -> None:
        self.current_input = data

    def decided(self, target: str) -> None:
        self.route_decision = target

    def values(self) -> dict[str, Any]:
        """Variables at the current node, as hooks see them."""
        text = self.current_input
        values: dict[str, Any] = {
            **self.custom,
            "INITIAL_INPUT": self.initial_input,
            "CURRENT_INPUT": text,
            "INPUT": text,
            "NODE": self.node,
            "PREV_NODE": self.node if self.hop_count else None,
            "PREV_LAYER": self.layer if self.hop_count else None,
            "CURRENT_LAYER": self.layer,
            "HOP_COUNT": self.hop_count,
            "WORD_COUNT": len(text.split()),
            "INPUT_LENGTH": len(text.encode("utf-8", "surrogatepass")),
            "REQUEST_ID": self.request_id,
            "TIMESTAMP": self.timestamp,
            "ROUTE_DECISION": self.route_decision,
        }
        for name, reg in self.registries.condition_variables.entries.items():
            if name not in values:
                values[name] = reg.value(dict(values))
        return values

    def for_target(self, target: str) -> dict[str, Any]:
        """Variables while the current node decides whether `target` may follow it: the node's own, with
        NODE naming the candidate (CURRENT_LAYER stays the choosing node's layer)."""
        values = self.values()
        values["NODE"] = target
        return values

    def strings(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in self.values().items()}

    def describe(self, target: str) -> str:
        """The variables conditions most often test, as they were for `target` (for error messages)."""
        v = self.for_target(target)
        keys = ("WORD_COUNT", "HOP_COUNT", "PREV_NODE")
        return ", ".join(f"{k}={v[k]}" for k in keys if v.get(k) is not None)
