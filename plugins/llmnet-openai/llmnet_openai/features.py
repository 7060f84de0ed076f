"""Tools, response formats and log-probabilities on the OpenAI chat completions wire: the request fields
of a caller's `AnswerOptions`, and the tool calls and log-probabilities of an answer, whole or streamed.

An OpenAI-compatible server takes these fields as they are, so they pass through unchanged; what comes
back is read strictly (a tool call without a name is not a tool call) and raises ValueError otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmnet_core import AnswerOptions, TokenLogprob, ToolCall, ToolCallDelta


def answer_fields(answer: AnswerOptions) -> dict[str, Any]:
    """The request fields that carry `answer` (only those it sets)."""
    fields: dict[str, Any] = {}
    if answer.tools:
        fields["tools"] = [dict(tool) for tool in answer.tools]
        if answer.tool_choice is not None:
            fields["tool_choice"] = answer.tool_choice
        if answer.parallel_tool_calls is not None:
            fields["parallel_tool_calls"] = answer.parallel_tool_calls
    if answer.response_format is not None:
        fields["response_format"] = dict(answer.response_format)
    if answer.logprobs:
        fields["logprobs"] = True
        if answer.top_logprobs is not None:
            fields["top_logprobs"] = answer.top_logprobs
    return fields


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def tool_calls_from(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The tool calls of an answer's `message` (none when it has no `tool_calls`)."""
    calls = message.get("tool_calls")
    if calls is None:
        return ()
    if not isinstance(calls, list):
        raise ValueError("tool_calls is not a list")
    out = []
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            raise ValueError(f"tool_calls[{index}] has no function")
        arguments = function.get("arguments")
        out.append(
            ToolCall(
                id=_text(call.get("id"), f"tool_calls[{index}].id"),
                name=_text(function.get("name"), f"tool_calls[{index}].function.name"),
                arguments=arguments if isinstance(arguments, str) and arguments else "{}",
            )
        )
    return tuple(out)


def tool_deltas_from(delta: Mapping[str, Any]) -> tuple[ToolCallDelta, ...]:
    """The pieces of tool calls in a streamed `delta` (none when it has no `tool_calls`)."""
    calls = delta.get("tool_calls")
    if calls is None:
        return ()
    if not isinstance(calls, list):
        raise ValueError("delta.tool_calls is not a list")
    out = []
    for position, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise ValueError(f"delta.tool_calls[{position}] is not an object")
        index = call.get("index", position)
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(f"delta.tool_calls[{position}].index is not a number")
        function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
        arguments = function.get("arguments")
        call_id, name = call.get("id"), function.get("name")
        out.append(
            ToolCallDelta(
                index=index,
                id=call_id if isinstance(call_id, str) and call_id else None,
                name=name if isinstance(name, str) and name else None,
                arguments=arguments if isinstance(arguments, str) else "",
            )
        )
    return tuple(out)


def _token(item: Any, nested: bool = False) -> TokenLogprob:
    if not isinstance(item, Mapping) or not isinstance(item.get("token"), str):
        raise ValueError("a logprobs entry has no token")
    logprob = item.get("logprob")
    if not isinstance(logprob, int | float) or isinstance(logprob, bool):
        raise ValueError("a logprobs entry has no logprob")
    raw = item.get("bytes")
    data = tuple(raw) if isinstance(raw, list) and all(isinstance(b, int) for b in raw) else None
    top = () if nested else tuple(_token(t, True) for t in item.get("top_logprobs") or ())
    return TokenLogprob(item["token"], float(logprob), data, top)


def logprobs_from(choice: Mapping[str, Any]) -> tuple[TokenLogprob, ...] | None:
    """The log-probabilities of a choice's tokens (`choice.logprobs.content`); None when it has none."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):  # parsed JSON (not Mapping: an ABC's isinstance costs 8 times more)
        return None
    content = logprobs.get("content")
    if content is None:
        return None
    if not isinstance(content, list):
        raise ValueError("logprobs.content is not a list")
    return tuple(_token(item) for item in content)
