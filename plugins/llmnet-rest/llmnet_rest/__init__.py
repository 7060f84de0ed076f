"""llmnet plugin: the `rest` hook transport, which calls a hook function with one HTTP request.

Kept light on purpose: httpx and pydantic are imported only when a `rest` function is first used,
so `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_transports(register: Any) -> None:
    """Register `rest` (trylast, so a third-party plugin may provide its own)."""
    from .transport import RestTransport

    register("rest", RestTransport)
