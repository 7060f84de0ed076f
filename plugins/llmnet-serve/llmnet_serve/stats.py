"""Counters behind `GET /status`: requests in flight, totals, and hops and errors per node."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from llmnet_core import Hop, Trace


class Stats:
    """Request and per-node counters of one server process (each worker keeps its own)."""

    def __init__(self, nodes: Iterable[str] = ()) -> None:
        self.started = time.monotonic()
        self.started_epoch = int(time.time())
        self.in_flight = 0
        self.total = 0
        self.succeeded = 0
        self.failed = 0
        self.rejected = 0
        self.cancelled = 0
        self.streamed = 0
        #: node name → [hops, errors]
        self.nodes: dict[str, list[int]] = {name: [0, 0] for name in nodes}
        #: node name → [the model that answered last, answers by a fallback model, answers from the cache]
        self.models: dict[str, list[Any]] = {}

    def record(self, trace: Trace | None, *, failed: bool) -> None:
        """Count one finished pipeline run: every hop of its trace, and the node it failed at."""
        if failed:
            self.failed += 1
        else:
            self.succeeded += 1
        hops = trace.hops if trace is not None else ()
        nodes = self.nodes
        for hop in hops:
            counts = nodes.get(hop.node)
            if counts is None:
                counts = nodes[hop.node] = [0, 0]
            counts[0] += 1
            if hop.answered_by is not None:  # a model answered at this hop
                self._record_model(hop)
        if failed and hops:
            nodes[hops[-1].node][1] += 1

    def _record_model(self, hop: Hop) -> None:
        """Which model answered at a hop: the last one per node, and how often a fallback or the cache."""
        models = self.models.get(hop.node)
        if models is None:
            models = self.models[hop.node] = [None, 0, 0]
        models[0] = hop.answered_by
        models[1] += bool(hop.fallbacks)
        models[2] += hop.cache == "hit"

    def _node(self, name: str, hops: int, errors: int) -> dict[str, Any]:
        data: dict[str, Any] = {"hops": hops, "errors": errors}
        if name in self.models:
            answered, fallbacks, hits = self.models[name]
            data.update(answered_by=answered, fallback_answers=fallbacks, cache_hits=hits)
        return data

    def to_dict(self, model: str) -> dict[str, Any]:
        """The JSON body of `GET /status`."""
        return {
            "status": "ok",
            "model": model,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "requests": {
                "in_flight": self.in_flight,
                "total": self.total,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "rejected": self.rejected,
                "cancelled": self.cancelled,
                "streamed": self.streamed,
            },
            "nodes": {name: self._node(name, hops, errors) for name, (hops, errors) in self.nodes.items()},
        }
