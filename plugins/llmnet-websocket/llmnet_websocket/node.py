"""The `ws` node kind: a node whose input goes to a WebSocket peer, whose reply is the node's output."""

from __future__ import annotations

from typing import Any

from llmnet_core import FunctionSpec, HookCall, NodeKind, NodeSpec, Problem, Resources

from .transport import WebSocketTransport

#: a ws node sends its input as the message
NODE_MESSAGE = "$INPUT"


class WebSocketNode(NodeKind):
    """A node answered by a WebSocket peer at its `url` (the node's input is the message)."""

    description = "nodes answered by a WebSocket peer at their url"

    def __init__(self, spec: NodeSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        self.transport = WebSocketTransport(_function(spec), resources)

    @classmethod
    def check(cls, spec: NodeSpec) -> list[Problem]:
        """A ws node needs the ws:// or wss:// URL of its peer."""
        url = spec.options.get("url")
        if not url:
            return [Problem("url", "a ws node needs the url of its peer", 'add "url": "ws://host:port/path"')]
        problems = WebSocketTransport.check(_function(spec))
        return [Problem("url", p.message, p.hint, p.severity) for p in problems]

    async def call(self, call: HookCall) -> Any:
        return await self.transport.call(call)


def _function(spec: NodeSpec) -> FunctionSpec:
    """The function the node's transport runs: the node's url, its input as the message."""
    options = {"url": spec.options.get("url") or "", "message": NODE_MESSAGE}
    return FunctionSpec(f"ws-node:{spec.name}", "websocket", options, spec.timeout, spec.base_dir)
