"""What the engine does for a caller's tools, response format and log-probabilities: refuse what the
answering node's backend cannot do (before its model is called), and send a tool result back to the
node whose model asked for the call.

A pipeline keeps no state between requests, so the node travels in the tool calls' ids: an id the
caller sees is the model's own id, `@`, and the node's name (`call_8f2a@billing`). The caller sends it
back with the tool's result; the engine finds the node from it and gives every model its own ids again
(some servers accept only the form of id they made).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from .base import Backend
from .errors import UnsupportedFeatureError
from .types import (
    FEATURES,
    AnswerOptions,
    ChatResponse,
    Message,
    StreamChunk,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
    assemble_tool_calls,
)

#: between a model's own tool call id and the name of the node whose model made the call
SEPARATOR = "@"


def check_features(
    node: str, answer: AnswerOptions, backend: Backend | None, kind: str | None = None
) -> None:
    """Raise UnsupportedFeatureError for the first feature `answer` needs that the node cannot do: one its
    `backend` does not support, or any, for a node without a model (`kind` names its adapter, `ws`)."""
    for feature in answer.features():
        if backend is not None and backend.supports(feature):
            continue
        param, what = FEATURES[feature]
        if backend is not None:
            spec = backend.spec
            reason = f'its model "{spec.name}" ({spec.backend} backend) cannot'
            hint = f"send the request without '{param}', or answer it with a model whose backend can"
        else:
            reason = f"a {kind or 'delegated'} node's reply cannot"
            hint = f"send the request without '{param}'"
        raise UnsupportedFeatureError(
            f"node \"{node}\" cannot answer this request: {reason} {what} ('{param}')",
            node=node,
            feature=feature,
            param=param,
            hint=hint,
        )


def tagged(call_id: str, node: str) -> str:
    """The id the caller sees for a tool call that `node`'s model made."""
    return f"{call_id}{SEPARATOR}{node}"


def untagged(call_id: str, nodes: Collection[str]) -> tuple[str, str | None]:
    """The model's own id and the node of an id the caller sent back; (the id, None) when it names none
    of `nodes` (an id from elsewhere is passed on as it is)."""
    found = [n for n in nodes if call_id.endswith(SEPARATOR + n) and len(call_id) > len(n) + 1]
    if not found:
        return call_id, None
    node = max(found, key=len)
    return call_id[: -len(node) - len(SEPARATOR)], node


def own_ids(messages: Sequence[Message], nodes: Collection[str]) -> list[Message]:
    """`messages` with every tool call id as its model made it (for sending to a model)."""
    out = []
    for message in messages:
        if message.tool_calls:
            calls = tuple(replace(c, id=untagged(c.id, nodes)[0]) for c in message.tool_calls)
            message = replace(message, tool_calls=calls)
        if message.tool_call_id is not None:
            message = replace(message, tool_call_id=untagged(message.tool_call_id, nodes)[0])
        out.append(message)
    return out


def asking_node(after: Sequence[Message], nodes: Collection[str]) -> str | None:
    """The node that asked for the tool calls whose results the conversation ends with: the node named by
    the ids of the last assistant message with tool calls after the routed user message, when tool
    results follow it; None otherwise (the request is routed as usual)."""
    for index in range(len(after) - 1, -1, -1):
        message = after[index]
        if message.role == "assistant" and message.tool_calls:
            if not any(m.role == "tool" for m in after[index + 1 :]):
                return None
            named = {untagged(call.id, nodes)[1] for call in message.tool_calls}
            named.discard(None)
            return named.pop() if len(named) == 1 else None
    return None


def tag_response(response: ChatResponse, node: str) -> tuple[ToolCall, ...]:
    """The tool calls of `response`, with the ids the caller sees."""
    return tuple(replace(call, id=tagged(call.id, node)) for call in response.tool_calls)


def tagging(on_chunk: Callable[[StreamChunk], Any], node: str) -> Callable[[StreamChunk], Any]:
    """`on_chunk`, handed streamed pieces whose tool call ids are those the caller sees."""

    def forward(chunk: StreamChunk) -> Any:
        if any(delta.id is not None for delta in chunk.tool_calls):
            deltas = tuple(
                replace(d, id=tagged(d.id, node)) if d.id is not None else d for d in chunk.tool_calls
            )
            chunk = replace(chunk, tool_calls=deltas)
        return on_chunk(chunk)

    return forward


class StreamedAnswer:
    """Gathers a streamed answer's pieces into the whole `ChatResponse`: text, tool calls, log-
    probabilities, the last usage and finish reason given."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.deltas: list[ToolCallDelta] = []
        self.logprobs: list[TokenLogprob] | None = None
        self.usage = Usage()
        self.finish: str | None = None

    def add(self, chunk: StreamChunk) -> None:
        if chunk.text:
            self.parts.append(chunk.text)
        self.deltas += chunk.tool_calls
        if chunk.logprobs:
            self.logprobs = [*(self.logprobs or ()), *chunk.logprobs]
        if chunk.usage is not None:
            self.usage = chunk.usage
        self.finish = chunk.finish_reason or self.finish

    def response(self, model: str | None) -> ChatResponse:
        return ChatResponse(
            text="".join(self.parts),
            usage=self.usage,
            model=model,
            finish_reason=self.finish,
            tool_calls=assemble_tool_calls(self.deltas),
            logprobs=tuple(self.logprobs) if self.logprobs is not None else None,
        )
