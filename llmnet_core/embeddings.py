"""Embeddings of texts as a routing node sees them, outside a request: for tools that study routing
(choosing a handler's `examples` from labelled requests, fitting a router's threshold)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import LLMNetError, UsageError
from .model_calls import NodeModel
from .trace import Hop
from .types import EmbedFn

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Pipeline


def node_embedder(pipeline: Pipeline, node: str) -> EmbedFn:
    """`await embed(texts, model=None, persist=False)`: the vectors that `RouteRequest.embed` gives the
    router of `node` (from the node's model, or from the `models` entry named `model`).

    The pipeline is started on the first call (its secrets loaded); errors are the engine's own
    (`BackendError` naming the node, `RoutingError` when the node has no model), with secrets masked.
    Pass `persist=True` only for texts of the configuration, never for users' requests.
    """
    if node not in pipeline.composition.nodes:
        known = ", ".join(sorted(pipeline.composition.nodes))
        raise UsageError(f'no node named "{node}"', hint=f"nodes: {known}")

    async def embed(
        texts: Sequence[str], model: str | None = None, *, persist: bool = False
    ) -> list[list[float]]:
        await pipeline.start()
        config = pipeline._nodes[node]
        hop = Hop(0, config.name, config.layer, "router")
        caller = NodeModel(config, hop, "embeddings", pipeline._backend)
        try:
            return await caller.embed(texts, model, persist=persist)
        except LLMNetError as exc:
            raise pipeline._redacted(exc) from None

    return embed
