"""Tools and response formats on Ollama's native chat API, mapped from and to OpenAI's terms.

Ollama takes OpenAI's tool objects as they are (`tools`), a response format as `format` (`"json"` or a
JSON schema), and writes tool calls as `message.tool_calls: [{"function": {"name", "arguments": {...}}}]`:
arguments as a JSON object rather than text, and (before recent versions) no id. Here arguments become
OpenAI's JSON text and calls without an id get one, and the other way for the conversation sent back.
It cannot force a call (`tool_choice`), hold a model to one call, or return log-probabilities.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from llmnet_core import AnswerOptions, Message, ToolCall

#: what this API does of `llmnet_core.FEATURES`
SUPPORTED = frozenset({"tools", "json_object", "json_schema"})


def answer_fields(answer: AnswerOptions) -> dict[str, Any]:
    """The request fields that carry `answer`: `tools` (left out under `tool_choice: "none"`, which
    means no call) and `format`."""
    fields: dict[str, Any] = {}
    if answer.offers_tools:
        fields["tools"] = [dict(tool) for tool in answer.tools]
    if answer.format_type == "json_object":
        fields["format"] = "json"
    elif answer.format_type == "json_schema":
        fields["format"] = dict(answer.json_schema or {})
    return fields


def _arguments(text: str) -> Any:
    """OpenAI's arguments text as the object Ollama wants (text that is not JSON goes as it is, for the
    server to refuse with its own words)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def messages_for(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation in Ollama's form: an assistant's tool calls with object arguments, a tool result
    with the name of the tool it answers (`tool_name`)."""
    names: dict[str, str] = {}
    out = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            item["tool_calls"] = [
                {"function": {"name": call.name, "arguments": _arguments(call.arguments)}}
                for call in message.tool_calls
            ]
            names.update((call.id, call.name) for call in message.tool_calls)
        if message.role == "tool":
            name = message.name or names.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def tool_calls_from(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The tool calls of an Ollama `message`, in OpenAI's form; raises ValueError for a malformed one."""
    calls = message.get("tool_calls")
    if calls is None:
        return ()
    if not isinstance(calls, list):
        raise ValueError("message.tool_calls is not a list")
    out = []
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"message.tool_calls[{index}] has no function name")
        arguments = function.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = "call_" + os.urandom(12).hex()
        out.append(ToolCall(call_id, name, text or "{}"))
    return tuple(out)
