"""Wire-level helpers of Ollama's native API: reading `/api/chat` objects (one JSON object, or NDJSON
lines when streaming), usage and finish reasons, and error excerpts.

Pure functions with no HTTP client import, so they are cheap to load and easy to test on their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmnet_core import ToolCall, Usage

from .features import tool_calls_from

EXCERPT_CHARS = 200


def seconds_text(value: float) -> str:
    """Seconds for messages: `0.3`, `300` (no trailing zeros)."""
    return f"{value:g}"


def one_line(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Collapse whitespace and cut to `limit` characters, so a reply excerpt fits in one line."""
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_text(data: bytes | str) -> str:
    """The most useful part of an error body: Ollama's `{"error": "..."}` text, else the raw body."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        payload = json.loads(text)
    except ValueError:
        return one_line(text)
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):  # an OpenAI-style proxy
            return one_line(error["message"])
        if isinstance(error, str):
            return one_line(error)
    return one_line(text)


def is_missing_model(data: bytes) -> bool:
    """True for Ollama's 404 body `{"error": "model \\"x\\" not found, try pulling it first"}`."""
    try:
        payload = json.loads(data)
    except ValueError:
        return False
    error = payload.get("error") if isinstance(payload, Mapping) else None
    return isinstance(error, str) and "model" in error.lower() and "not found" in error.lower()


def model_names(data: bytes) -> list[str] | None:
    """The model names listed by `GET /api/tags`; None when the body is not such a list."""
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    models = payload.get("models") if isinstance(payload, Mapping) else None
    if not isinstance(models, list):
        return None
    names = []
    for item in models:
        if isinstance(item, Mapping):
            name = item.get("name") or item.get("model")
            if isinstance(name, str) and name:
                names.append(name)
    return names


def with_tag(name: str) -> str:
    """Ollama's full model name: `llama3.2` means `llama3.2:latest`."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _count(payload: Mapping[str, Any], key: str) -> int:
    value = payload.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class ChatPart:
    """What one `/api/chat` object carries: a piece of text or tool calls, and when `done`, the usage and
    reason."""

    text: str
    done: bool
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    stats: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


class NotChat(ValueError):
    """The object is not an `/api/chat` answer (the message says what was wrong)."""


class ErrorObject(ValueError):
    """The object is Ollama's `{"error": "..."}`, sent instead of (or in the middle of) an answer."""


def chat_part(payload: Any) -> ChatPart:
    """Read one `/api/chat` object; raises ErrorObject for `{"error"}` and NotChat for anything else."""
    if not isinstance(payload, Mapping):
        raise NotChat("not a JSON object")
    if payload.get("error"):
        raise ErrorObject(error_text(json.dumps(payload)))
    message = payload.get("message")
    done = payload.get("done") is True
    text, calls = "", ()
    if isinstance(message, Mapping):
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif content is not None:
            raise NotChat("message.content is not text")
        try:
            calls = tool_calls_from(message)
        except ValueError as exc:
            raise NotChat(str(exc)) from None
    elif not done:
        raise NotChat("no message")
    model = payload.get("model")
    model = model if isinstance(model, str) and model else None
    if not done:
        return ChatPart(text, False, model=model, tool_calls=calls)
    reason = payload.get("done_reason")
    usage = Usage(_count(payload, "prompt_eval_count"), _count(payload, "eval_count"))
    return ChatPart(
        text,
        True,
        usage=usage,
        finish_reason=reason if isinstance(reason, str) and reason else "stop",
        model=model,
        stats=_stats(payload),
        tool_calls=calls,
    )


def _stats(payload: Mapping[str, Any]) -> str:
    """Ollama's timings (nanoseconds) as one line for debug logs."""
    load, evals, eval_ns = (_count(payload, k) for k in ("load_duration", "eval_count", "eval_duration"))
    total = _count(payload, "total_duration")
    rate = f", {evals / (eval_ns / 1e9):.1f} tokens/s" if evals and eval_ns else ""
    return f"total {total / 1e9:.2f} s, load {load / 1e9:.2f} s, {evals} tokens{rate}"
