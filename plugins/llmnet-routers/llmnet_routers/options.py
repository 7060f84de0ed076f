"""Parsing of a node's `router-options`, with errors that name the node and the option."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from llmnet_core import PluginOptions, Problem, RouteRequest, RoutingError, option_problems, parse_options

M = TypeVar("M", bound=PluginOptions)


def router_options(model: type[M], request: RouteRequest, strategy: str) -> M:
    """Validate the routing node's `router-options` for `strategy`; problems become a RoutingError."""
    where = f'node "{request.node}": router-options'
    hint = f"the {strategy} router accepts: {{known}}"
    return parse_options(model, request.options, where, error=RoutingError, hint=hint)


def options_check(model: type[M], options: Mapping[str, Any], strategy: str) -> list[Problem]:
    """The problems `router_options` would raise, for `validate`, their paths relative to the options."""
    hint = f"the {strategy} router accepts: {{known}}"
    return option_problems(model, options, lambda field: field, hint=hint)[1]
