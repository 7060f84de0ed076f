"""llmnet plugin: the `websocket` hook transport, and the `ws` node kind (a node a WebSocket peer answers).

Kept light on purpose: `websockets` is imported only when a connection is opened, so that
`llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmnet_core import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from llmnet_core import Registrar

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_transports(register: Registrar) -> None:
    """Register `websocket` (trylast, so a third-party plugin may provide its own)."""
    from .transport import WebSocketTransport

    register("websocket", WebSocketTransport)


@hookimpl(trylast=True)
def llmnet_register_node_kinds(register: Registrar) -> None:
    """Register the `ws` node kind: nodes whose input goes to a WebSocket peer, whose reply is the output."""
    from .node import WebSocketNode

    register("ws", WebSocketNode)
