"""The fields of a `websocket` function, validated with pydantic; errors name `functions.<name>.<field>`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmnet_core import Problem, TransportError


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class WebSocketOptions(BaseModel):
    """The fields of a `websocket` function (`type` and `timeout` are read by the core)."""

    model_config = ConfigDict(extra="forbid", alias_generator=_kebab, populate_by_name=True, frozen=True)

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


def validate_options(function: str, options: Any) -> tuple[WebSocketOptions | None, list[Problem]]:
    """Validate a function's options: the options, or every problem with its place and how to fix it."""
    try:
        return WebSocketOptions.model_validate(dict(options)), []
    except ValidationError as exc:
        return None, [_problem(function, error) for error in exc.errors()]


def parse_options(function: str, options: Any) -> WebSocketOptions:
    """Validate a function's options; raise TransportError naming each bad field and how to fix it."""
    parsed, problems = validate_options(function, options)
    if parsed is None:
        raise TransportError("; ".join(f"{p.path}: {p.message}" for p in problems), hint=_hint())
    return parsed


def place_of(function: str, field: str = "") -> str:
    """Where a field lives: `functions.NAME.FIELD`, or the ws node the engine made the function for."""
    if function.startswith("ws-node:"):
        node = f'node "{function.removeprefix("ws-node:")}"'
        return f"{node} ({field})" if field else node
    return f"functions.{function}.{field}" if field else f"functions.{function}"


def _hint() -> str:
    known = ", ".join(f.alias or n for n, f in WebSocketOptions.model_fields.items())
    return f"a websocket function takes: type, timeout, {known}"


def _problem(function: str, error: Any) -> Problem:
    where = place_of(function, ".".join(str(part) for part in error["loc"]))
    if error["type"] == "extra_forbidden":
        return Problem(where, "unknown field", _hint())
    if error["type"] == "missing":
        return Problem(where, "is required", _hint())
    return Problem(where, error["msg"].removeprefix("Value error, "))
