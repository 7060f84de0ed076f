"""The trace of a run: per hop the node, how it was chosen and why, the hooks run, tokens and milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .types import Usage


@dataclass
class HookOutcome:
    """One hook call: which function, how it ended, and how long it took."""

    function: str
    transport: str
    phase: str
    mode: str
    status: str = "pending"  # ok | failed | timeout | skipped | pending
    ms: float = 0.0
    error: str | None = None
    changed: bool = False


@dataclass
class Hop:
    """One node visited by a request."""

    index: int
    node: str
    layer: int | None  # None: a node placed in no layer (reached by name)
    role: str  # router | handler | output | skipped (route_only) | a node kind (ws, ...)
    chosen_by: str = "entry"
    decision: dict[str, Any] | None = None
    hooks: list[HookOutcome] = field(default_factory=list)
    ms: float = 0.0
    usage: Usage | None = None
    model: str | None = None
    backend: str | None = None
    model_calls: int = 0
    #: the `models` key of the model that answered: the node's own, or one of its `fallback` models
    answered_by: str | None = None
    #: the models that failed before it, in order: `{"model": key, "error": why}`
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    #: the time of each model call made at this node (a router's, a failed one, each fallback), in ms
    model_ms: list[float] = field(default_factory=list)
    #: the response cache's part: "hit", "miss", "bypass" (not cacheable: a sampling temperature),
    #: "error" (the cache failed; the model answered), or None (no cache)
    cache: str | None = None

    def add_usage(self, usage: Usage) -> None:
        self.usage = usage if self.usage is None else self.usage + usage
        self.model_calls += 1


@dataclass
class Trace:
    """Everything that happened to one request."""

    request_id: str
    hops: list[Hop] = field(default_factory=list)
    total_ms: float = 0.0
    error: str | None = None

    @property
    def usage(self) -> Usage:
        total: Usage | None = None
        for hop in self.hops:
            if hop.usage:
                total = hop.usage if total is None else total + hop.usage
        return Usage() if total is None else total

    @property
    def model_calls(self) -> int:
        return sum(hop.model_calls for hop in self.hops)

    @property
    def path(self) -> list[str]:
        return [hop.node for hop in self.hops]

    def to_dict(self, redact: Callable[[str], str] = lambda s: s) -> dict[str, Any]:
        """A JSON-ready dict; every string passes through `redact` (secret values become ***)."""
        hops = []
        for hop in self.hops:
            item = asdict(hop)
            item["usage"] = hop.usage.to_dict() if hop.usage else None
            item["ms"] = round(hop.ms, 3)
            item["model_ms"] = [round(ms, 3) for ms in hop.model_ms]
            for hook in item["hooks"]:
                hook["ms"] = round(hook["ms"], 3)
            hops.append(item)
        data = {
            "request_id": self.request_id,
            "hops": hops,
            "total_ms": round(self.total_ms, 3),
            "model_calls": self.model_calls,
            "usage": self.usage.to_dict(),
            "error": self.error,
        }
        return _redact_all(data, redact)

    def render(self, redact: Callable[[str], str] = lambda s: s) -> str:
        """A table for people, as `llmnet run --trace` prints it on stderr."""
        rows = [("hop", "node", "layer", "chosen by", "ms", "tokens")]
        for hop in self.hops:
            tokens = str(hop.usage.total_tokens) if hop.usage else "–"
            ms = f"{hop.ms:.0f}" if hop.role != "output" else "–"
            layer = str(hop.layer) if hop.role != "output" and hop.layer is not None else "–"
            rows.append((str(hop.index), hop.node, layer, hop.chosen_by, ms, tokens))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = []
        for n, row in enumerate(rows):
            cells = [row[0].rjust(widths[0])] + [c.ljust(widths[i]) for i, c in enumerate(row[1:4], 1)]
            cells += [row[4].rjust(widths[4]), row[5].rjust(widths[5])]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                continue
            hooks = self.hops[n - 1].hooks
            for k, hook in enumerate(hooks):
                branch = "└" if k == len(hooks) - 1 else "├"
                note = f" {hook.error}" if hook.error else ""
                lines.append(
                    f"{' ' * (widths[0] + 2)}{branch} {hook.phase:<4} {hook.function} "
                    f"({hook.transport}, {hook.mode})  {hook.status}  {hook.ms:.0f} ms{note}"
                )
            lines += [f"{' ' * (widths[0] + 2)}↳ {note}" for note in _model_notes(self.hops[n - 1])]
        seconds = self.total_ms / 1000
        calls = self.model_calls
        hits = sum(hop.cache == "hit" for hop in self.hops)
        cached = f" · {hits} cache hit{'s' if hits != 1 else ''}" if hits else ""
        lines.append(
            f"total {seconds:.2f} s · {calls} model call{'s' if calls != 1 else ''} · "
            f"{self.usage.total_tokens} tokens{cached}"
        )
        if self.error:
            lines.append(f"failed: {self.error}")
        return redact("\n".join(lines))


def _model_notes(hop: Hop) -> list[str]:
    """What the trace table says under a hop about its model: the models that failed, a fallback model
    that answered, an answer from the cache."""
    notes = [f"model {failed['model']} failed: {failed['error']}" for failed in hop.fallbacks]
    if hop.fallbacks and hop.answered_by:
        notes.append(f"answered by fallback model {hop.answered_by}")
    if hop.cache == "hit":
        notes.append("answered from the cache")
    return notes


def _redact_all(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_all(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _redact_all(v, redact) for k, v in value.items()}
    return value
