"""Headers, URLs and messages: `header_safe`, `mask_userinfo`, `url_problem`, `connect_reason`, `plural`
and `status_problem`, shared by every plugin that calls servers over HTTP."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest
from llmnet_http import connect_reason, header_safe, mask_userinfo, plural, status_problem, url_problem


def test_header_safe() -> None:
    assert header_safe("Bearer sk-123\tx ~")
    assert not header_safe("a\r\nInjected: yes")
    assert not header_safe("clé")
    assert not header_safe("bell\x07")


def test_mask_userinfo() -> None:
    assert mask_userinfo("https://user:pw-secret@h:8000/v1") == "https://user:***@h:8000/v1"
    assert mask_userinfo("http://user@h/v1") == "http://user@h/v1"
    assert mask_userinfo("http://h/v1?key=1") == "http://h/v1?key=1"


def _wrapped(inner: BaseException) -> Exception:
    """An exception caused by `inner`, as an HTTP client raises it."""
    try:
        raise inner
    except BaseException as exc:
        try:
            raise RuntimeError("the client's own error") from exc
        except RuntimeError as outer:
            return outer


def test_connect_reason_names_the_common_failures() -> None:
    assert connect_reason(_wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))) == (
        "connection refused"
    )
    assert connect_reason(_wrapped(socket.gaierror(-2, "Name or service not known"))) == "host name not found"
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert connect_reason(_wrapped(untrusted)) == "TLS certificate not trusted"
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert connect_reason(_wrapped(unreachable)) == "network is unreachable"


def test_connect_reason_prefers_a_known_reason_over_an_os_message() -> None:
    # an outer OSError that copies the inner one's words, as aiohttp's ClientConnectorError does
    inner = socket.gaierror(-2, "Name or service not known")
    try:
        raise inner
    except OSError as exc:
        try:
            raise OSError(0, "Name or service not known") from exc
        except OSError as outer:
            assert connect_reason(outer) == "host name not found"


def test_connect_reason_falls_back() -> None:
    assert connect_reason(RuntimeError("odd")) == "connection failed"
    assert connect_reason(RuntimeError("odd"), "RuntimeError: odd") == "RuntimeError: odd"
    looped = RuntimeError("a")
    looped.__context__ = RuntimeError("b")
    looped.__context__.__context__ = looped
    assert connect_reason(looped) == "connection failed"


def test_status_problem_is_shared_by_the_http_backends() -> None:
    assert plural(1, "attempt") == "1 attempt" and plural(3, "attempt") == "3 attempts"
    message, hint = status_problem("http://h/v1", 401, "nope", model="m", has_key=True)
    assert message == "http://h/v1 rejected the API key (HTTP 401): nope"
    assert hint == "Check models.m.api-key."
    message, hint = status_problem("http://h/v1", 403, "", model="m", has_key=False)
    assert "requires an API key" in message
    hints = {404: "not here", "5xx": "server broke"}
    message, hint = status_problem("http://h", 503, "busy", model="m", has_key=False, attempts=3, hints=hints)
    assert message == "http://h answered HTTP 503 after 3 attempts: busy" and hint == "server broke"
    assert status_problem("http://h", 404, "x", model="m", has_key=False, hints=hints)[1] == "not here"
    assert status_problem("http://h", 418, "x", model="m", has_key=False, hints=hints)[1] is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8000/v1", None),
        ("https://[::1]:8080/v1", None),
        ("file:///etc/passwd", "'file:///etc/passwd' is not an http(s) URL"),
        ("ftp://x/v1", "'ftp://x/v1' is not an http(s) URL"),
        ("http://", "'http://' names no host"),
        ("http://[::1", "'http://[::1' is not a valid URL: an IPv6 address is written in [ ] with both"),
        (
            "http://127.0.0.1:99999",
            "'http://127.0.0.1:99999' has a port that is not a number from 1 to 65535",
        ),
        ("http://h:0/", "'http://h:0/' has a port that is not a number from 1 to 65535"),
        ("http://h:x/", "'http://h:x/' has a port that is not a number from 1 to 65535"),
        ("http://exa mple.com", "'http://exa mple.com' is not a valid URL: its host holds a space"),
        ("http://[::1]x/", "'http://[::1]x/' is not a valid URL: its host holds a space"),
        ("http://u:pw-secret@[::1", "'http://***@[::1' is not a valid URL"),
    ],
)
def test_url_problem(url: str, expected: str | None) -> None:
    found = url_problem(url)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected) and "pw-secret" not in found


def test_url_problem_shows_the_url_as_written() -> None:
    assert url_problem("ftp://h/v1/chat/completions", "ftp://h") == "'ftp://h' is not an http(s) URL"
