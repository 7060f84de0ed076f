"""What HTTP plugins put in headers and messages: text safe to send in a header, URLs safe to show and
what is wrong with one, a short reason for a failed connection, and the one-line message for a model
server's error status."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit


def header_safe(text: str) -> bool:
    """True when `text` can travel in an HTTP/1.1 header (printable ASCII or tab, no line breaks)."""
    return text.isascii() and all(char == "\t" or " " <= char <= "~" for char in text)


def mask_userinfo(url: str) -> str:
    """The URL with the password of its authority part masked (`user:***@host`), safe for messages;
    the whole user part when the URL is too malformed to split (`http://u:pw@[::1`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}" if "@" in rest else url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def url_problem(url: str, written: str | None = None) -> str | None:
    """Why `url` cannot be the address of a server reached over HTTP, as a message that starts with
    the URL as `written` (default `url`), password masked: `'ftp://h/v1' is not an http(s) URL`; None
    when it can be (http or https, a host, a port from 1 to 65535 when one is given). Never raises, so a
    plugin's `check` and its constructor refuse the same addresses with the same words."""
    shown = repr(mask_userinfo(url if written is None else written))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if str(exc) == "Invalid IPv6 URL":
            return f"{shown} is not a valid URL: an IPv6 address is written in [ ] with both brackets"
        if str(exc).startswith("Port"):
            return f"{shown} has a port that is not a number from 1 to 65535"
        return f"{shown} is not a valid URL ({exc})"
    host = parts.netloc.rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if port is not None else host  # `[::1]:80` → `[::1]`
    if parts.scheme.lower() not in ("http", "https"):
        return f"{shown} is not an http(s) URL"
    if not parts.hostname:
        return f"{shown} names no host"
    if not host.isprintable() or " " in host or ("[" in host and not host.endswith("]")):
        return f"{shown} is not a valid URL: its host holds a space, a control character or stray text"
    if port == 0:
        return f"{shown} has a port that is not a number from 1 to 65535"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (or contexts), outermost first, each once."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _known_reason(exc: BaseException) -> str | None:
    if (
        isinstance(exc, ConnectionRefusedError)
        or getattr(exc, "errno", None) == errno.ECONNREFUSED
        or "connection refused" in str(exc).lower()
    ):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if type(exc).__name__ == "SSLCertVerificationError":
        return "TLS certificate not trusted"
    return None


def connect_reason(exc: BaseException, fallback: str = "connection failed") -> str:
    """A short reason for a failed connection, found in the exception's chain: "connection refused",
    "host name not found", "TLS certificate not trusted", else the system's words for an OS error
    ("network is unreachable"), else `fallback`."""
    chain = _chain(exc)
    for current in chain:
        reason = _known_reason(current)
        if reason is not None:
            return reason
    for current in chain:
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[:1].lower() + current.strerror[1:]
    return fallback


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
