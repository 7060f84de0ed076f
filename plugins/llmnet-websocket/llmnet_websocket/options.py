"""The fields of a `websocket` function, validated with pydantic; errors name `functions.<name>.<field>`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from llmnet_core import PluginOptions

HINT = "a websocket function takes: type, timeout, {known}"


class WebSocketOptions(PluginOptions):
    """The fields of a `websocket` function (`type` and `timeout` are read by the core)."""

    url: str = Field(description="ws:// or wss:// address of the peer")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers sent when connecting")
    message: str | dict[str, Any] | list[Any] | None = Field(
        None, description="what is sent: text or a JSON template with $VARIABLES (default: the hook's data)"
    )
    max_connections: int = Field(4, ge=1, le=256, description="connections kept open to this peer at most")
    description: str | None = None

    @field_validator("url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"{value!r} is not a WebSocket URL; write ws://host:port/path or wss://...")
        return value.strip()


def place_of(function: str, field: str = "") -> str:
    """Where a field lives: `functions.NAME.FIELD`, or the ws node the engine made the function for."""
    if function.startswith("ws-node:"):
        node = f'node "{function.removeprefix("ws-node:")}"'
        return f"{node} ({field})" if field else node
    return f"functions.{function}.{field}" if field else f"functions.{function}"
