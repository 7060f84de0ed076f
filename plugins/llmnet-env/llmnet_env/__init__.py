"""llmnet plugin: the secret sources `env-file` (a .env file, in llmnet's dotenv dialect) and `env`.

Kept light on purpose: the parser and pydantic are imported only when a secret block is loaded,
so `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_secret_providers(register: Any) -> None:
    """Register `env-file` and `env` (trylast, so a third-party plugin may replace either)."""
    from .providers import EnvFileSecrets, EnvSecrets

    register("env-file", EnvFileSecrets)
    register("env", EnvSecrets)
