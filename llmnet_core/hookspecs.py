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
def llmnet_register_observers(register: Registrar) -> None:
    """Register request observers (metrics, traces, logs): `register("otel", OTelObserver())` (an
    `Observer` instance). They see every span of every pipeline run in the process; register one only
    when it is configured (an observer that records nothing should not be registered)."""


@hookspec
def llmnet_register_caches(register: Registrar) -> None:
    """Register response cache backends, named by a cache's `backend`: `register("shared", SharedCache)`
    (a `ResponseCache` subclass). The in-process `memory` backend is built in."""


@hookspec
def llmnet_register_deployers(register: Registrar) -> None:
    """Register deployers, which run a pipeline's nodes elsewhere as their `deploy` sections say:
    `register("ray", RayDeployer)` (a `Deployer` subclass)."""


@hookspec
def llmnet_register_commands(cli: click.Group) -> None:
    """Add click commands to the `llmnet` command group: `cli.add_command(...)`."""
