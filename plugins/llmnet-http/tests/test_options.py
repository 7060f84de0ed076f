"""`HTTPBackendOptions`: the keys every HTTP model backend reads from its `models` entry, their checks,
the retry policy they make and the headers of every request."""

from __future__ import annotations

import pytest
from llmnet_http import Backoff, HTTPBackendOptions, RetryPolicy

from llmnet_core import BackendError, option_problems, parse_options

SECRET = "s3cr3t-canary-value"


def test_http_backend_options_defaults_and_the_entrys_other_keys() -> None:
    entry = {"runner": "vllm", "source": "x", "retry-backoff": 0.25, "max_retry_wait": 4, "retry-deadline": 9}
    options = parse_options(HTTPBackendOptions, entry, "models.m", error=BackendError)
    assert (options.timeout, options.connect_timeout, options.retries) == (120.0, 10.0, 2)
    assert options.backoff == Backoff(base=0.25, max_wait=4.0)
    assert [options.backoff.ceiling(n) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert options.retry_policy == RetryPolicy(retries=2, backoff=Backoff(0.25, 4.0), deadline=9.0)
    assert HTTPBackendOptions().retry_deadline == 60.0


def test_http_backend_options_refuse_what_is_not_a_number_of_seconds() -> None:
    _, found = option_problems(
        HTTPBackendOptions,
        {
            "timeout": True,
            "connect-timeout": 0,
            "retries": 1.5,
            "retry-backoff": "soon",
            "max-retry-wait": -1,
            "retry-deadline": 0,
        },
        "models.m",
    )
    assert [str(p) for p in found] == [
        "models.m.timeout: Input should be a valid number",
        "models.m.connect-timeout: Input should be greater than 0",
        "models.m.retries: Input should be a valid integer",
        "models.m.retry-backoff: Input should be a valid number",
        "models.m.max-retry-wait: Input should be greater than or equal to 0",
        "models.m.retry-deadline: Input should be greater than 0",
    ]
    _, found = option_problems(HTTPBackendOptions, {"retry-deadline": float("inf")}, "models.m")
    assert [str(p) for p in found] == ["models.m.retry-deadline: Input should be a finite number"]


def test_request_headers_carry_the_key_and_extra_headers_and_name_the_credentials() -> None:
    options = parse_options(
        HTTPBackendOptions,
        {"headers": {"X-Team": "research", "X-Api-Token": SECRET, "X-Count": 3}},
        "models.m",
    )
    headers, secrets = options.request_headers("models.m", "  sk-key-123  ", "acme/1.0")
    assert headers == {
        "User-Agent": "acme/1.0",
        "Authorization": "Bearer sk-key-123",
        "X-Team": "research",
        "X-Api-Token": SECRET,
        "X-Count": "3",
    }
    assert secrets == ["sk-key-123", SECRET]
    no_key = HTTPBackendOptions().request_headers("models.m", None, "acme/1.0")
    assert no_key == ({"User-Agent": "acme/1.0"}, [])


def test_headers_and_keys_that_cannot_be_sent_are_refused_without_showing_them() -> None:
    _, found = option_problems(
        HTTPBackendOptions, {"headers": {"X-A": f"{SECRET}\r\nInjected: yes"}}, "models.m"
    )
    assert [str(p) for p in found] == [
        "models.m.headers.X-A: cannot be sent in an HTTP header (non-ASCII characters or line breaks)"
    ]
    with pytest.raises(BackendError) as info:
        HTTPBackendOptions().request_headers("models.m", "sk-clé-secrète", "acme/1.0")
    assert info.value.message == "models.m.api-key contains characters that cannot be sent in an HTTP header"
    assert "secrète" not in str(info.value)
