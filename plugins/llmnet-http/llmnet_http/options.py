"""The options every HTTP model backend reads from its `models` entry: timeouts, retries (how many,
the waits between them, the total time they may take) and extra headers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from llmnet_core import BackendError, PluginOptions, Problem

from .retries import Backoff, RetryPolicy
from .text import header_safe

#: words in a header's name that make its value a credential (masked in messages like an API key)
SENSITIVE_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie")


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
    `connect-timeout`, `retries` (after the first attempt), `retry-backoff`, `max-retry-wait` and
    `retry-deadline` (seconds, see `RetryPolicy`) and extra `headers`. The entry's other keys are
    ignored; subclass it to add a backend's own options or to change a default."""

    model_config = ConfigDict(extra="ignore")

    timeout: float = Field(120.0, gt=0, strict=True, allow_inf_nan=False)
    connect_timeout: float = Field(10.0, gt=0, strict=True, allow_inf_nan=False)
    retries: int = Field(2, ge=0, le=20, strict=True)
    retry_backoff: float = Field(0.5, ge=0, strict=True, allow_inf_nan=False)
    max_retry_wait: float = Field(30.0, ge=0, strict=True, allow_inf_nan=False)
    retry_deadline: float = Field(60.0, gt=0, strict=True, allow_inf_nan=False)
    headers: dict[HeaderText, HeaderText] = Field(default_factory=dict)

    @property
    def backoff(self) -> Backoff:
        """The waits between attempts these options ask for."""
        return Backoff(self.retry_backoff, self.max_retry_wait)

    @property
    def retry_policy(self) -> RetryPolicy:
        """How often and for how long `retry` tries again under these options."""
        return RetryPolicy(self.retries, self.backoff, self.retry_deadline)

    def request_headers(
        self, place: str, api_key: str | None, user_agent: str
    ) -> tuple[dict[str, str], list[str]]:
        """The headers of every request (User-Agent, `Authorization: Bearer` for an API key, the extra
        headers) and the credentials among them, to mask in messages; `place` names the entry
        (`models.NAME`) in the error for an API key that cannot be sent."""
        headers = {"User-Agent": user_agent}
        secrets: list[str] = []
        key = (api_key or "").strip()
        problem = api_key_problem(place, api_key)
        if problem is not None:
            raise BackendError(f"{problem.path} {problem.message}", hint=problem.hint)
        if key:
            headers["Authorization"] = f"Bearer {key}"
            secrets.append(key)
        for name, value in self.headers.items():
            headers[name] = value
            if any(word in name.lower() for word in SENSITIVE_HEADER_WORDS):
                secrets.append(value)
        return headers, [s for s in secrets if len(s) >= 4]


def api_key_problem(place: str, api_key: str | None) -> Problem | None:
    """What keeps an API key from being sent (`Authorization: Bearer KEY`), at `{place}.api-key`, or
    None: for a backend's `check`, which must refuse what `request_headers` refuses, the value unshown."""
    key = (api_key or "").strip()
    if not key or header_safe(key):
        return None
    return Problem(
        f"{place}.api-key",
        "contains characters that cannot be sent in an HTTP header",
        "API keys are plain ASCII; check the secret's value for stray characters.",
    )
