"""Helpers for plugins that call servers over HTTP: when to retry (exponential backoff and a server's
Retry-After), the options every HTTP model backend reads (timeouts, retries, extra headers), URLs safe
to show, and a short reason for a failed connection.

No HTTP client is imported here: each plugin brings its own (httpx, aiohttp...).
"""

from __future__ import annotations

import email.utils
import errno
import math
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from .errors import BackendError
from .options import PluginOptions

#: words in a header's name that make its value a credential (masked in messages like an API key)
SENSITIVE_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie")


def header_safe(text: str) -> bool:
    """True when `text` can travel in an HTTP/1.1 header (printable ASCII or tab, no line breaks)."""
    return text.isascii() and all(char == "\t" or " " <= char <= "~" for char in text)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) in seconds from `now`, at least 0; None when
    it is absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class Backoff:
    """When to try a request again: waits doubling from `base` seconds (0.5, 1, 2, ...) after failures
    worth a retry, or what the server asked for in Retry-After, at most `max_wait` seconds."""

    base: float = 0.5
    max_wait: float = 30.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1 for the first)."""
        return self.base * 2 ** (attempt - 1)

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """The wait before the next attempt: the server's Retry-After header (capped at `max_wait`) when
        it gave a readable one, else `delay(attempt)`."""
        asked = retry_after_seconds(retry_after)
        return self.delay(attempt) if asked is None else min(asked, self.max_wait)


def _number_as_text(value: Any) -> Any:
    """A header value written as a number means its text (`3` is "3")."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _sendable(text: str) -> str:
    if not header_safe(text):
        raise ValueError("cannot be sent in an HTTP header (non-ASCII characters or line breaks)")
    return text


HeaderText = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_sendable)]


class HTTPBackendOptions(PluginOptions):
    """The options of a `models` entry served over HTTP: `timeout` (seconds for an answer),
    `connect-timeout`, `retries` (after the first attempt), `retry-backoff` and `max-retry-wait`
    (seconds, see `Backoff`) and extra `headers`. The entry's other keys are ignored; subclass it to add
    a backend's own options or to change a default."""

    model_config = ConfigDict(extra="ignore")

    timeout: float = Field(120.0, gt=0, strict=True, allow_inf_nan=False)
    connect_timeout: float = Field(10.0, gt=0, strict=True, allow_inf_nan=False)
    retries: int = Field(2, ge=0, le=20, strict=True)
    retry_backoff: float = Field(0.5, ge=0, strict=True, allow_inf_nan=False)
    max_retry_wait: float = Field(30.0, ge=0, strict=True, allow_inf_nan=False)
    headers: dict[HeaderText, HeaderText] = Field(default_factory=dict)

    @property
    def backoff(self) -> Backoff:
        """The waits between attempts these options ask for."""
        return Backoff(self.retry_backoff, self.max_retry_wait)

    def request_headers(
        self, place: str, api_key: str | None, user_agent: str
    ) -> tuple[dict[str, str], list[str]]:
        """The headers of every request (User-Agent, `Authorization: Bearer` for an API key, the extra
        headers) and the credentials among them, to mask in messages; `place` names the entry
        (`models.NAME`) in the error for an API key that cannot be sent."""
        headers = {"User-Agent": user_agent}
        secrets: list[str] = []
        key = (api_key or "").strip()
        if key:
            if not header_safe(key):
                raise BackendError(
                    f"{place}.api-key contains characters that cannot be sent in an HTTP header",
                    hint="API keys are plain ASCII; check the secret's value for stray characters.",
                )
            headers["Authorization"] = f"Bearer {key}"
            secrets.append(key)
        for name, value in self.headers.items():
            headers[name] = value
            if any(word in name.lower() for word in SENSITIVE_HEADER_WORDS):
                secrets.append(value)
        return headers, [s for s in secrets if len(s) >= 4]


def mask_userinfo(url: str) -> str:
    """The URL with the password of its authority part masked (`user:***@host`), safe for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def connect_reason(exc: BaseException) -> str:
    """A short reason for a failed connection ("connection refused", "host name not found", "TLS
    certificate not trusted"), found in the exception's chain; "connection failed" otherwise."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (
            isinstance(current, ConnectionRefusedError)
            or getattr(current, "errno", None) == errno.ECONNREFUSED
            or "connection refused" in str(current).lower()
        ):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if type(current).__name__ == "SSLCertVerificationError":
            return "TLS certificate not trusted"
        current = current.__cause__ or current.__context__
    return "connection failed"


def plural(count: int, word: str) -> str:
    """`1 attempt`, `3 attempts`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def status_problem(
    shown_url: str,
    status: int,
    excerpt: str,
    *,
    model: str,
    has_key: bool,
    attempts: int = 1,
    hints: Mapping[int | str, str] | None = None,
) -> tuple[str, str | None]:
    """The message and hint for a model server's error status, the same in every HTTP backend.

    `hints` maps a status (or `"5xx"` for any server error) to what the backend advises; 401/403 always
    point at the model's `api-key`.
    """
    if status in (401, 403):
        what = "rejected the API key" if has_key else "requires an API key"
        return f"{shown_url} {what} (HTTP {status}): {excerpt}", f"Check models.{model}.api-key."
    hints = hints or {}
    hint = hints.get(status) or (hints.get("5xx") if status >= 500 else None)
    after = f" after {plural(attempts, 'attempt')}" if attempts > 1 else ""
    return f"{shown_url} answered HTTP {status}{after}: {excerpt}", hint
