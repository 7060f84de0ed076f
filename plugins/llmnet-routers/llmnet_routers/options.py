"""Parsing of a node's `router-options`, with errors that name the node and the option."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from llmnet_core import RoutingError

M = TypeVar("M", bound=BaseModel)


def kebab(name: str) -> str:
    """`embedding_model` → `embedding-model`, the spelling compositions use."""
    return name.replace("_", "-")


class RouterOptions(BaseModel):
    """Base of each strategy's options: kebab-case keys, unknown keys refused."""

    model_config = ConfigDict(alias_generator=kebab, populate_by_name=True, extra="forbid", frozen=True)


def parse_options(model: type[M], options: Mapping[str, Any], node: str, strategy: str) -> M:
    """Validate `router-options` of `node` for `strategy`; the first problem becomes a RoutingError."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "router-options"
        known = ", ".join(sorted(f.alias or n for n, f in model.model_fields.items()))
        raise RoutingError(
            f'node "{node}": router-options.{where}: {error["msg"]}',
            hint=f"the {strategy} router accepts: {known}",
        ) from None
