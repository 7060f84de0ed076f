"""The fields of a `shell` function, validated with pydantic; errors name `functions.<name>.<field>`."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from llmnet_core import PluginOptions

HINT = "a shell function takes: type, timeout, {known} (see the llmnet-shell README)"
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024


def _as_text(value: Any) -> Any:
    """Numbers become text (an argument of 3 means "3"); anything else is left for pydantic to judge."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _no_nul(value: str, what: str) -> str:
    if "\0" in value:
        raise ValueError(f"{what} contains a NUL character, which a program cannot receive")
    return value


class ShellOptions(PluginOptions):
    """`functions.<name>` of type shell (the core takes `type` and `timeout` out before this sees it)."""

    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    pass_env: list[str] = Field(default_factory=list)
    cwd: str | None = Field(None, min_length=1)
    stdin: Literal["json", "text", "none"] = "json"
    max_output: int = Field(DEFAULT_MAX_OUTPUT, gt=0)
    description: str | None = None

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if "$" in value:
            raise ValueError("the program cannot come from a $VARIABLE; pass values in args instead")
        return _no_nul(value, "the command")

    @field_validator("args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        return [_as_text(item) for item in value] if isinstance(value, list) else value

    @field_validator("args")
    @classmethod
    def _args_text(cls, value: list[str]) -> list[str]:
        return [_no_nul(item, f"argument {i}") for i, item in enumerate(value)]

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for name in value:
            if not isinstance(name, str) or not ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
        return {name: _as_text(text) for name, text in value.items()}

    @field_validator("pass_env")
    @classmethod
    def _pass_env(cls, value: list[str]) -> list[str]:
        for name in value:
            if not ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
        return value
