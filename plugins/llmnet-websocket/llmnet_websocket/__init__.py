"""llmnet plugin: the `websocket` hook transport, also used by the engine for `ws` nodes.

Kept light on purpose: `websockets` is imported only when a connection is opened, so that
`llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_transports(register: Any) -> None:
    """Register `websocket` (trylast, so a third-party plugin may provide its own)."""
    from .transport import WebSocketTransport

    register("websocket", WebSocketTransport)
