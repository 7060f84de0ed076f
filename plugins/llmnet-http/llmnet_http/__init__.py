"""Helpers for llmnet plugins that call servers over HTTP: the options every HTTP model backend reads,
one retry loop (exponential backoff with jitter, Retry-After, a deadline), the pooled HTTP client of
the model backends (a lean one for plain http://, aiohttp for the rest), JSON bodies written and read
fast, and headers, URLs and error messages made the same way everywhere.

A library, not a plugin. Names are imported on first use, and the HTTP clients only when a request is sent, so
that loading a plugin that uses them stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "HTTPBackendOptions": "options",
    "SENSITIVE_HEADER_WORDS": "options",
    "api_key_problem": "options",
    "Backoff": "retries",
    "RetryPolicy": "retries",
    "Retryable": "retries",
    "retry": "retries",
    "retry_after_seconds": "retries",
    "header_safe": "text",
    "mask_userinfo": "text",
    "connect_reason": "text",
    "plural": "text",
    "status_problem": "text",
    "url_problem": "text",
    "Upstream": "client",
    "Slots": "client",
    "Exchange": "client",
    "NoAnswer": "client",
    "NoFreeConnection": "client",
    "ReadFailed": "client",
    "ReadTimeout": "client",
    "Timeouts": "client",
    "UpstreamPoster": "client",
    "aiohttp_module": "client",
    "client_timeout": "client",
    "idle_connections": "client",
    "iter_lines": "client",
    "proxy_for": "client",
    "ChoiceAsker": "choices",
    "maybe_refused": "choices",
    "json_bytes": "jsontext",
    "json_value": "jsontext",
}

__all__ = [
    "SENSITIVE_HEADER_WORDS",
    "Backoff",
    "ChoiceAsker",
    "Exchange",
    "HTTPBackendOptions",
    "NoAnswer",
    "NoFreeConnection",
    "ReadFailed",
    "ReadTimeout",
    "RetryPolicy",
    "Retryable",
    "Slots",
    "Timeouts",
    "Upstream",
    "UpstreamPoster",
    "__version__",
    "aiohttp_module",
    "api_key_problem",
    "client_timeout",
    "connect_reason",
    "header_safe",
    "idle_connections",
    "iter_lines",
    "json_bytes",
    "json_value",
    "mask_userinfo",
    "maybe_refused",
    "plural",
    "proxy_for",
    "retry",
    "retry_after_seconds",
    "status_problem",
    "url_problem",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmnet_http' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .choices import ChoiceAsker, maybe_refused
    from .client import (
        Exchange,
        NoAnswer,
        NoFreeConnection,
        ReadFailed,
        ReadTimeout,
        Slots,
        Timeouts,
        Upstream,
        UpstreamPoster,
        aiohttp_module,
        client_timeout,
        idle_connections,
        iter_lines,
        proxy_for,
    )
    from .jsontext import json_bytes, json_value
    from .options import SENSITIVE_HEADER_WORDS, HTTPBackendOptions, api_key_problem
    from .retries import Backoff, Retryable, RetryPolicy, retry, retry_after_seconds
    from .text import connect_reason, header_safe, mask_userinfo, plural, status_problem, url_problem
