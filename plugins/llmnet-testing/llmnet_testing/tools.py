"""Tool calls and log-probabilities as the fake servers answer them.

A reply function returns `ToolCalls(("get_weather", {"city": "Paris"}))` instead of a text when the fake
model should call tools. The OpenAI fake answers it as OpenAI does: `message.tool_calls` with ids
(`call_` and 24 letters and digits) and arguments as JSON text, `finish_reason: "tool_calls"`, and when
streaming a first piece per call with its `index`, `id` and name, then its arguments a few characters
at a time. The Ollama fake writes `message.tool_calls` with arguments as an object and no id, in one
streamed object. Both answer tool calls only for a request that offers those tools (else HTTP 500: the
test's reply does what no server does). With `tool_choice` "required" (or naming a function), a text
reply becomes a call of the first (or that) tool with `{}`, as a forced call would be.

The OpenAI fake checks a conversation as OpenAI does: a `tool` message must answer a call of the
assistant message before it, and every such call must get its answer (HTTP 400 otherwise).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ToolCalls"]

#: characters of arguments per streamed piece
ARGUMENT_PIECE = 7


@dataclass(frozen=True)
class ToolCalls:
    """A reply that calls tools: `(name, arguments)` pairs (arguments a dict, or JSON text as is), and
    optional text before the calls."""

    calls: tuple[tuple[str, Any], ...]
    content: str | None = None

    def __init__(self, *calls: tuple[str, Any], content: str | None = None) -> None:
        object.__setattr__(self, "calls", tuple(calls))
        object.__setattr__(self, "content", content)

    def arguments(self, index: int) -> str:
        """The arguments of call `index` as JSON text."""
        value = self.calls[index][1]
        return value if isinstance(value, str) else json.dumps(value if value is not None else {})


class ToolRefusal(ValueError):
    """A conversation or a reply a server would not answer (the message says why)."""


def offered(request: Mapping[str, Any]) -> list[str]:
    """The names of the function tools a request offers (none under `tool_choice: "none"`)."""
    if request.get("tool_choice") == "none":
        return []
    tools = request.get("tools")
    names = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


def forced(request: Mapping[str, Any], reply: str | ToolCalls) -> str | ToolCalls:
    """The reply under `tool_choice`: a text becomes a call when the request forces one; a call of a tool
    the request does not offer is a ToolRefusal."""
    names = offered(request)
    choice = request.get("tool_choice")
    if isinstance(reply, ToolCalls):
        unknown = [name for name, _ in reply.calls if name not in names]
        if unknown:
            raise ToolRefusal(f"the reply calls {unknown[0]!r}, which the request does not offer ({names})")
        return reply
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        return ToolCalls((name, {})) if name in names else reply
    if choice == "required" and names:
        return ToolCalls((names[0], {}))
    return reply


def call_id(rng: random.Random | None = None) -> str:
    """An id in OpenAI's form: `call_` and 24 letters and digits."""
    pick = rng or random
    return "call_" + "".join(pick.choice(string.ascii_letters + string.digits) for _ in range(24))


def openai_calls(reply: ToolCalls) -> list[dict[str, Any]]:
    """The calls as `message.tool_calls` of an OpenAI answer."""
    return [
        {"id": call_id(), "type": "function", "function": {"name": name, "arguments": reply.arguments(i)}}
        for i, (name, _) in enumerate(reply.calls)
    ]


def openai_deltas(calls: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """The streamed pieces of whole calls, one list per chunk: a call's id and name with empty
    arguments, then its arguments ARGUMENT_PIECE characters at a time."""
    chunks: list[list[dict[str, Any]]] = []
    for index, call in enumerate(calls):
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        head = {"name": name, "arguments": ""}
        chunks.append([{"index": index, "id": call["id"], "type": "function", "function": head}])
        for start in range(0, len(arguments), ARGUMENT_PIECE):
            piece = arguments[start : start + ARGUMENT_PIECE]
            chunks.append([{"index": index, "function": {"arguments": piece}}])
    return chunks


def ollama_calls(reply: ToolCalls) -> list[dict[str, Any]]:
    """The calls as `message.tool_calls` of an Ollama answer: arguments as an object, no id."""
    return [
        {"function": {"name": name, "arguments": json.loads(reply.arguments(i))}}
        for i, (name, _) in enumerate(reply.calls)
    ]


def conversation_problem(messages: Sequence[Any]) -> str | None:
    """Why OpenAI refuses a conversation's tool messages (a `tool` message that answers no call of the
    assistant message before it, a call left without its answer); None when it takes it."""
    pending: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role == "tool":
            answered = message.get("tool_call_id")
            if answered not in pending:
                return (
                    f"Invalid parameter: messages[{index}] with role 'tool' must be a response to a "
                    f"preceding message with 'tool_calls' (no call has the id {answered!r})"
                )
            pending.discard(answered)
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(sorted(pending))}"
            )
        calls = message.get("tool_calls") if role == "assistant" else None
        pending = {c.get("id") for c in calls if isinstance(c, Mapping)} if isinstance(calls, list) else set()
    return None


def logprobs_problem(request: Mapping[str, Any]) -> str | None:
    """Why OpenAI refuses a request's `logprobs` / `top_logprobs`; None when it takes them."""
    top = request.get("top_logprobs")
    if top is None:
        return None
    if request.get("logprobs") is not True:
        return "Invalid value: 'logprobs' must be set to true if 'top_logprobs' is used"
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20:
        return "Invalid 'top_logprobs': integer between 0 and 20 expected"
    return None


def token_logprobs(pieces: Sequence[str], top: int) -> list[dict[str, Any]]:
    """A log-probability entry per piece (the fakes' tokens): each token's is -0.1 per character, and its
    `top` alternatives are the token itself and then the token followed by `~`, `~~`, ... each less
    likely by 1."""
    entries = []
    for piece in pieces:
        logprob = -0.1 * len(piece)
        alternatives = [piece + "~" * k for k in range(top)]
        entries.append(
            {
                "token": piece,
                "logprob": logprob,
                "bytes": list(piece.encode("utf-8")),
                "top_logprobs": [
                    {"token": alt, "logprob": logprob - k, "bytes": list(alt.encode("utf-8"))}
                    for k, alt in enumerate(alternatives)
                ],
            }
        )
    return entries
