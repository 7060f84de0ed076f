"""Wire-level helpers of the OpenAI chat completions protocol: URL normalisation, error excerpts,
usage objects and a server-sent-events line parser (Retry-After and connection-failure reasons are
llmnet-http's: `llmnet_http.retry_after_seconds`, `connect_reason`).

Pure functions with no HTTP client import, so they are cheap to load and easy to test on their own.
"""

from __future__ import annotations

import json
from typing import Any

from llmnet_core import Usage, excerpt

#: where a model entry with `runner` but no `url` is served by default
DEFAULT_URLS: dict[str, str] = {
    "vllm": "http://localhost:8000",
    "llama-cpp": "http://localhost:8080",
    "ollama": "http://localhost:11434",
}
EXCERPT_CHARS = 200
USER_AGENT = "llmnet-openai/0.1.0"


def chat_completions_url(url: str) -> str:
    """Normalise a server address to its chat completions endpoint.

    `http://h:8000`, `http://h:8000/`, `http://h:8000/v1` and `http://h:8000/v1/` all give
    `http://h:8000/v1/chat/completions`; a URL already ending in `/chat/completions` is kept.
    """
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def seconds_text(value: float) -> str:
    return f"{value:g}"


def one_line(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The text on one line, cut to `limit` characters; the secrets llmnet knows are masked before
    the cut, so that one straddling it leaves no prefix behind."""
    return excerpt(text, limit) or "(empty body)"


def error_excerpt(data: bytes) -> str:
    """The most useful part of an error body: its `error.message` when it is JSON, else the raw text."""
    text = data.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return one_line(text)
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail"))
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return one_line(error["message"])
        if isinstance(error, str):
            return one_line(error)
    return one_line(text)


def _count(number: Any) -> int:
    return int(number) if isinstance(number, (int, float)) and not isinstance(number, bool) else 0


def usage_from(value: Any) -> Usage | None:
    """`Usage` from an OpenAI `usage` object (parsed JSON: a dict); None when absent or unreadable."""
    if not isinstance(value, dict):  # not Mapping: an ABC's isinstance costs 8 times a type's
        return None
    return Usage(_count(value.get("prompt_tokens")), _count(value.get("completion_tokens")))


class SSEParser:
    """Turns the lines of a server-sent-events body into `data` payloads (strings).

    Accepts `data:` with or without a space, ignores comments and other fields, joins multi-line data,
    and dispatches a one-line JSON object (or `[DONE]`) at once even when the blank line is missing.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> list[str]:
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return []
        if line.startswith("{"):  # a bare JSON line (servers that forget the `data:` prefix)
            return [*self.flush(), line]
        name, _sep, value = line.partition(":")
        if name.strip() != "data":
            return []
        value = value[1:] if value.startswith(" ") else value
        stripped = value.strip()
        if not self._data and (stripped == "[DONE]" or (stripped[:1] == "{" and stripped[-1:] == "}")):
            return [stripped]
        self._data.append(value)
        return []

    def flush(self) -> list[str]:
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []
        return [data]
