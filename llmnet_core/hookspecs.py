"""The pluggy hook specifications of llmnet. Plugins implement these with `llmnet_core.hookimpl`."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("llmnet")


@hookspec
def llmnet_register_backends(register: Any) -> None:
    """Register model backends: `register("openai-api", OpenAIBackend)` (a `Backend` subclass)."""


@hookspec
def llmnet_register_transports(register: Any) -> None:
    """Register hook-function transports: `register("rest", RestTransport)` (a `Transport` subclass)."""


@hookspec
def llmnet_register_secret_providers(register: Any) -> None:
    """Register secret sources: `register("vault", VaultProvider)` (a `SecretProvider` subclass)."""


@hookspec
def llmnet_register_conditions(register: Any) -> None:
    """Register functions for `if` expressions: `register("contains", fn)`; `register.variable(name, fn)`
    adds a variable computed from the request's variables."""


@hookspec
def llmnet_register_routers(register: Any) -> None:
    """Register routing strategies: `register("semantic", SemanticRouter)` (a `Router` subclass)."""


@hookspec
def llmnet_register_commands(cli: Any) -> None:
    """Add click commands to the `llmnet` command group: `cli.add_command(...)`."""
