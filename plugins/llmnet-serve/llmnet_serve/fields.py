"""The request fields that change what an answer is, checked as OpenAI checks them: `tools`,
`tool_choice`, `parallel_tool_calls`, `response_format`, `logprobs` and `top_logprobs` (read into the
core's `AnswerOptions`), and the tool parts of messages (an assistant's `tool_calls`, a tool result's
`tool_call_id`). Every fault is a 400 naming the field (`tools[0].function.name`).

Whether the answering node can do what is asked is the pipeline's question (a 400 naming the node, from
`UnsupportedFeatureError`); here only the request's own shape is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmnet_core import AnswerOptions, ToolCall

#: what OpenAI accepts as a function's or a JSON schema's name
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: the most alternatives per token OpenAI returns
MAX_TOP_LOGPROBS = 20


class FieldError(ValueError):
    """A request field of the wrong shape: the message, and the field's path (`param`)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _object(value: Any, where: str, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(f"'{where}' must be an object such as {example}", where)
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise FieldError(f"'{where}' must be 1 to 64 letters, digits, _ or -, got {value!r}", where)
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(f"'{where}' must be true or false", where)
    return value


def _tool(value: Any, where: str) -> Mapping[str, Any]:
    tool = _object(value, where, "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}")
    if tool.get("type") != "function":
        raise FieldError(
            f"'{where}.type' {tool.get('type')!r} is not supported: this server takes function tools",
            f"{where}.type",
        )
    function = _object(tool.get("function"), f"{where}.function", "{'name': ..., 'parameters': {...}}")
    _name(function.get("name"), f"{where}.function.name")
    if "description" in function and not isinstance(function["description"], str):
        raise FieldError(f"'{where}.function.description' must be a string", f"{where}.function.description")
    if function.get("parameters") is not None:
        _object(
            function["parameters"], f"{where}.function.parameters", "a JSON schema {'type': 'object', ...}"
        )
    if function.get("strict") is not None:
        _bool(function["strict"], f"{where}.function.strict")
    return tool


def _tools(value: Any) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise FieldError("'tools' must be a non-empty list of function tools", "tools")
    return tuple(_tool(item, f"tools[{index}]") for index, item in enumerate(value))


def _tool_choice(value: Any, names: list[str]) -> str | Mapping[str, Any] | None:
    if value is None:
        return None
    if not names:
        raise FieldError("'tool_choice' is only allowed when 'tools' are given", "tool_choice")
    if value in ("none", "auto", "required"):
        return value
    choice = _object(value, "tool_choice", "'auto', 'none', 'required' or {'type': 'function', ...}")
    if choice.get("type") != "function":
        raise FieldError("'tool_choice.type' must be 'function'", "tool_choice.type")
    function = _object(choice.get("function"), "tool_choice.function", "{'name': ...}")
    name = _name(function.get("name"), "tool_choice.function.name")
    if name not in names:
        raise FieldError(
            f"'tool_choice.function.name' {name!r} is not one of the tools ({', '.join(names)})",
            "tool_choice.function.name",
        )
    return choice


def _response_format(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    form = _object(value, "response_format", "{'type': 'json_object'}")
    kind = form.get("type")
    if kind in ("text", "json_object"):
        return form
    if kind != "json_schema":
        raise FieldError(
            f"'response_format.type' must be 'text', 'json_object' or 'json_schema', got {kind!r}",
            "response_format.type",
        )
    where = "response_format.json_schema"
    spec = _object(form.get("json_schema"), where, "{'name': ..., 'schema': {...}}")
    _name(spec.get("name"), f"{where}.name")
    _object(spec.get("schema"), f"{where}.schema", "{'type': 'object', 'properties': {...}}")
    if spec.get("strict") is not None:
        _bool(spec["strict"], f"{where}.strict")
    return form


def _logprobs(data: Mapping[str, Any]) -> tuple[bool, int | None]:
    wanted = data.get("logprobs")
    wanted = False if wanted is None else _bool(wanted, "logprobs")
    top = data.get("top_logprobs")
    if top is None:
        return wanted, None
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= MAX_TOP_LOGPROBS:
        raise FieldError(
            f"'top_logprobs' must be a whole number from 0 to {MAX_TOP_LOGPROBS}", "top_logprobs"
        )
    if not wanted:
        raise FieldError("'top_logprobs' needs 'logprobs': true", "top_logprobs")
    return wanted, top


#: the request fields `answer_options` reads (with the deprecated forms of tools, which it refuses)
ANSWER_FIELDS = frozenset(
    {"tools", "tool_choice", "parallel_tool_calls", "response_format", "logprobs", "top_logprobs"}
    | {"functions", "function_call"}
)
#: the options of a request that asks for nothing beyond text (AnswerOptions is frozen: one for all)
NO_ANSWER_OPTIONS = AnswerOptions()


def answer_options(data: Mapping[str, Any]) -> AnswerOptions:
    """The request's tools, response format and log-probability fields; raises FieldError."""
    if data.keys().isdisjoint(ANSWER_FIELDS):
        return NO_ANSWER_OPTIONS
    for legacy in ("functions", "function_call"):
        if data.get(legacy) is not None:
            raise FieldError(
                f"'{legacy}' is the deprecated form of tools: send 'tools' and 'tool_choice'", legacy
            )
    tools = _tools(data.get("tools"))
    names = [tool["function"]["name"] for tool in tools]
    parallel = data.get("parallel_tool_calls")
    if parallel is not None:
        if not tools:
            raise FieldError(
                "'parallel_tool_calls' is only allowed when 'tools' are given", "parallel_tool_calls"
            )
        parallel = _bool(parallel, "parallel_tool_calls")
    logprobs, top = _logprobs(data)
    return AnswerOptions(
        tools=tools,
        tool_choice=_tool_choice(data.get("tool_choice"), names),
        parallel_tool_calls=parallel,
        response_format=_response_format(data.get("response_format")),
        logprobs=logprobs,
        top_logprobs=top,
    )


def tool_calls(value: Any, where: str) -> tuple[ToolCall, ...]:
    """An assistant message's `tool_calls` (OpenAI's form); raises FieldError."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError(f"'{where}' must be a list of tool calls", where)
    calls = []
    for index, item in enumerate(value):
        place = f"{where}[{index}]"
        call = _object(item, place, "{'id': ..., 'type': 'function', 'function': {'name', 'arguments'}}")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise FieldError(f"'{place}.id' must be the call's id (a string)", f"{place}.id")
        function = _object(call.get("function"), f"{place}.function", "{'name': ..., 'arguments': '{...}'}")
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise FieldError(f"'{place}.function.name' must be a string", f"{place}.function.name")
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            raise FieldError(
                f"'{place}.function.arguments' must be JSON text (a string)", f"{place}.function.arguments"
            )
        calls.append(ToolCall(call["id"], function["name"], arguments or "{}"))
    return tuple(calls)


def tool_call_id(item: Mapping[str, Any], where: str) -> str | None:
    """A tool message's `tool_call_id` (required); None for other roles."""
    if item.get("role") != "tool":
        return None
    value = item.get("tool_call_id")
    if not isinstance(value, str) or not value:
        raise FieldError(
            f"'{where}.tool_call_id' must be the id of the call it answers", f"{where}.tool_call_id"
        )
    return value
