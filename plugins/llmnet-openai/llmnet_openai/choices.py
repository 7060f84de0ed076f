"""Answers restricted to fixed choices (`ChatRequest.choices`) on OpenAI-compatible servers.

A model entry whose `runner` is `"vllm"` says its server is vLLM: the request carries vLLM's guided
choice, both as `structured_outputs.choice` (vLLM 0.10.2 and later) and as `guided_choice` (the name
before, removed in 0.12; each version ignores the field it does not know), and the answer is the choice
as plain text. Every other server gets OpenAI's structured outputs, `response_format` with a strict JSON
schema whose only documents are `{"choice": <one of the choices>}`, which vLLM, llama.cpp's server and
OpenAI's API all follow. Either way `max_tokens` is capped to what such an answer needs.

A server that fails such a request (HTTP 400, 422 or 5xx) is asked again once without the constraint;
when that plain request is answered, the constraint was the trouble and is not sent to it again.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import ChatRequest

#: the `runner` that says the server is vLLM
VLLM = "vllm"
#: tokens of the JSON around a choice (`{"choice": "` and `"}`), with room for whitespace between them
JSON_OVERHEAD = 12
_LIMITS = ("max_tokens", "max_completion_tokens")


def capped(body: dict[str, Any], request: ChatRequest, overhead: int = 0) -> dict[str, Any]:
    """`body` with `max_tokens` capped to an answer among the choices plus `overhead` tokens, unless the
    caller's own parameters set a limit (the model entry's default limit is for other answers)."""
    if not any(key in request.parameters for key in _LIMITS):
        for key in _LIMITS:
            body.pop(key, None)
        body["max_tokens"] = request.choice_max_tokens(overhead)
    return body


def constrained(body: dict[str, Any], request: ChatRequest, runner: str | None) -> dict[str, Any]:
    """`body` asking for an answer that is exactly one of `request.choices`, in the way `runner`'s server
    understands (see the module's docstring), with its tokens capped."""
    choices = list(request.choices or ())
    if runner == VLLM:
        body.pop("response_format", None)  # vLLM takes one kind of constraint at a time
        body["structured_outputs"] = {"choice": choices}
        body["guided_choice"] = choices
        return capped(body, request)
    body["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "choice", "schema": request.choice_schema(), "strict": True},
    }
    return capped(body, request, JSON_OVERHEAD)
