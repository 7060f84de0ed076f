"""`POST /v1/completions`, OpenAI's legacy text completion API: the `prompt` enters the pipeline as one
user message, and the answer comes back as a `text_completion` object (or a stream of them).

Everything else is the chat handler's (auth, limits, streaming, errors): this module only reads the
request and writes the answer in this API's shape. Fields that change what the answer is and that a
pipeline cannot honour (`echo`, `suffix`, `best_of`, `logprobs`) get a 400 naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmnet_core import Message

from .wire import ChatInput, ChunkWriter, RequestError, json_body, request_input

#: fields this server refuses rather than ignore (with why)
REFUSED = {
    "echo": "the pipeline's answer does not repeat the prompt",
    "suffix": "the pipeline does not fill in text before a suffix",
    "best_of": "the pipeline gives one answer",
    "logprobs": "log-probabilities of the legacy API are not offered; use /v1/chat/completions",
}


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return value
    if value is None:
        raise RequestError(400, "'prompt' is required", param="prompt", code="missing_required")
    raise RequestError(
        400, "'prompt' must be a string (or a list of one string)", param="prompt", code="invalid_value"
    )


def _refused(data: Mapping[str, Any]) -> None:
    for name, why in REFUSED.items():
        value = data.get(name)
        if value is None or value is False or (name == "best_of" and value == 1):
            continue
        raise RequestError(400, f"'{name}' is not supported: {why}", param=name, code="invalid_value")


def parse_completion_request(body: bytes, *, allow_variables: bool = False) -> ChatInput:
    """Validate a legacy completion request; raises RequestError (400) naming the faulty field."""
    data = json_body(body, "completion")
    _refused(data)
    chat = request_input(data, [Message("user", _prompt(data.get("prompt")))], allow_variables)
    chat.legacy = True
    return chat


def text_completion(
    request_id: str,
    created: int,
    model: str,
    text: str,
    usage: Mapping[str, int],
    trace: Any = None,
    finish_reason: str = "stop",
) -> bytes:
    """A whole `text_completion` object, as JSON bytes."""
    import orjson

    payload: dict[str, Any] = {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }
    if trace is not None:
        payload["llmnet_trace"] = trace
    return orjson.dumps(payload)


class TextChunkWriter(ChunkWriter):
    """The events of a streamed legacy completion: `text_completion` objects whose choice has `text`."""

    def __init__(self, request_id: str, created: int, model: str) -> None:
        super().__init__(request_id, created, model)
        self._base = {**self._base, "id": f"cmpl-{request_id}", "object": "text_completion"}

    def _choice(self, text: str, reason: str | None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": reason}

    def delta(self, delta: dict[str, Any], logprobs: list[dict[str, Any]] | None = None) -> bytes:
        return self._event({**self._base, "choices": [self._choice(delta.get("content") or "", None)]})

    def finish(self, trace: Any = None, reason: str = "stop") -> bytes:
        payload: dict[str, Any] = {**self._base, "choices": [self._choice("", reason)]}
        if trace is not None:
            payload["llmnet_trace"] = trace
        return self._event(payload)
