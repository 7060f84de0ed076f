"""The fields of a `rest` function, validated with pydantic (errors name `functions.<name>.<field>`)."""

from __future__ import annotations

import re
from typing import Any

from llmnet_http import header_safe
from pydantic import Field, field_validator

from llmnet_core import PluginOptions

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
HINT = "a rest function takes: type, timeout, {known} (see the llmnet-rest README)"
#: an HTTP header name (RFC 9110 token characters)
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _scalar_text(value: Any) -> Any:
    """Numbers become text (a header value of 3 means "3"); anything else is left for pydantic to judge."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class RestOptions(PluginOptions):
    """`functions.<name>` of type rest (the core takes `type` and `timeout` out before this sees it)."""

    url: str = Field(min_length=1)
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    description: str | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        method = value.strip().upper()
        if method not in METHODS:
            raise ValueError(f"{value!r} is not an HTTP method; use one of {', '.join(METHODS)}")
        return method

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
            raise ValueError(f"{value!r} is not an http(s) URL; write e.g. http://127.0.0.1:8080/hook")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for name, text in value.items():
            if not isinstance(name, str) or not HEADER_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            text = _scalar_text(text)
            # values with $VARIABLES are checked again after substitution, on every call
            if isinstance(text, str) and "$" not in text and not header_safe(text):
                raise ValueError(
                    f"the value of {name} cannot be sent in an HTTP header (line breaks or non-ASCII)"
                )
        return {name: _scalar_text(text) for name, text in value.items()}
