"""The pluggy hook specifications of llmnet, and the markers plugins use to implement them.

Each `llmnet_register_*` hook receives a `register` object for one kind of thing (see `registry.KINDS`):
`register(name, value, description=...)` adds it, remembering which plugin provided it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - annotations only: importing these here would be a cycle
    import click

    from .registry import ConditionRegistrar, Registrar

#: the pluggy project name, which is also the entry-point group plugins are found in
PROJECT = "llmnet"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def llmnet_register_backends(register: Registrar) -> None:
    """Register model backends: `register("openai-api", OpenAIBackend)` (a `Backend` subclass)."""


@hookspec
def llmnet_register_transports(register: Registrar) -> None:
    """Register hook-function transports: `register("rest", RestTransport)` (a `Transport` subclass)."""


@hookspec
def llmnet_register_secret_providers(register: Registrar) -> None:
    """Register secret sources: `register("vault", VaultProvider)` (a `SecretProvider` subclass)."""


@hookspec
def llmnet_register_node_kinds(register: Registrar) -> None:
    """Register node kinds that delegate a node's work elsewhere, named by the node's `adapter`:
    `register("ws", WebSocketNode)` (a `NodeKind` subclass)."""


@hookspec
def llmnet_register_conditions(register: ConditionRegistrar) -> None:
    """Register functions for `if` expressions: `register("contains", fn)`; `register.variable(name, fn)`
    adds a variable computed from the request's variables."""


@hookspec
def llmnet_register_routers(register: Registrar) -> None:
    """Register routing strategies: `register("semantic", SemanticRouter)` (a `Router` subclass)."""


@hookspec
def llmnet_register_commands(cli: click.Group) -> None:
    """Add click commands to the `llmnet` command group: `cli.add_command(...)`."""
