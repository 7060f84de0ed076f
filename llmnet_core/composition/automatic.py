"""The routing strategy of a node that names none: chosen by what the node's model can do.

Measured on the mixed routing set (benchmarks/routing/README.md): on the bundled 270M model, asking the
model (`llm`) picks the right one of ten handlers 36 % of the time, where embedding similarity with a
small sentence encoder picks it 74 % of the time in a few milliseconds. A node on an in-process small
model therefore routes by similarity; a node on any other model (a server, a hosted API: often a larger
model, which answers with a name well) keeps `llm`. The catalogue says which backends count as small and
which runner embeds; with that runner not installed, every node keeps `llm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..registry import Registries
from .catalogue import catalogue, runners
from .schema import CompositionFile, ModelConfig
from .specs import resolve_backend


def choose_strategies(
    file: CompositionFile, targets: Mapping[str, Sequence[str]], registries: Registries
) -> None:
    """Give each node of `file` that chooses among several `targets`, and whose file names no strategy
    for it (on the node or in `settings.router`), the strategy its model suits; the encoder becomes a
    model of the composition under a key no file can mean otherwise."""
    if "router" in file.settings.model_fields_set:
        return
    rule: dict[str, Any] = catalogue()["automatic-routing"]
    embedder = rule["embedding-model"]
    if embedder["runner"] not in _runner_backends(registries):
        return
    for node in file.architecture:
        if node.router or len(targets.get(node.name, ())) < 2:
            continue
        if _backend_of(file, node.model) not in rule["small-model-backends"]:
            continue
        node.router = rule["strategy"]
        node.router_options = {
            **rule["router-options"],
            "embedding-model": embedder["key"],
            **node.router_options,
        }
        file.models.setdefault(embedder["key"], ModelConfig.model_validate({"runner": embedder["runner"]}))


def _backend_of(file: CompositionFile, model: str | None) -> str | None:
    config = file.models.get(model) if model else None
    return resolve_backend(config)[0] if config is not None else None


def _runner_backends(registries: Registries) -> set[str]:
    """The runners whose backend an installed plugin provides."""
    return {name for name, entry in runners().items() if entry.get("backend") in registries.backends}
