"""Parsing of a node's `router-options`, with errors that name the node and the option."""

from __future__ import annotations

from typing import TypeVar

from llmnet_core import PluginOptions, RouteRequest, RoutingError, parse_options

M = TypeVar("M", bound=PluginOptions)


def router_options(model: type[M], request: RouteRequest, strategy: str) -> M:
    """Validate the routing node's `router-options` for `strategy`; problems become a RoutingError."""
    where = f'node "{request.node}": router-options'
    hint = f"the {strategy} router accepts: {{known}}"
    return parse_options(model, request.options, where, error=RoutingError, hint=hint)
