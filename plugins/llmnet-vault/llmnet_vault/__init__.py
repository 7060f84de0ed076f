"""llmnet plugin: the secret source `vault`, reading KV v1/v2 secrets from HashiCorp Vault or OpenBao.

Kept light on purpose: hvac (and requests under it) and pydantic are imported only when a secret block
is loaded, so `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_secret_providers(register: Any) -> None:
    """Register `vault` (trylast, so a third-party plugin may provide its own)."""
    from .provider import VaultSecrets

    register("vault", VaultSecrets)
