"""One request's inputs and result: the conversation split around the routed user message, the caller's
per-request sampling parameters, and the `RunResult` handed back."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import PipelineError, UsageError
from .redact import masked_spans, shown_token
from .trace import Trace
from .types import AnswerOptions, Message, StreamChunk, TokenLogprob, ToolCall, Usage

TokenCallback = Callable[[str], Any]
#: receives every piece of a streamed answer: text, tool call pieces, log-probabilities
ChunkCallback = Callable[[StreamChunk], Any]


@dataclass
class RunResult:
    """The answer to one request, with its trace and why the final answer ended.

    `finish_reason` is the answering model's (`"stop"`, `"length"` when it hit max_tokens, ...), or None
    when no model produced the output (a ws node, a backend that does not say, a routed-through input).
    `tool_calls` are the calls of the caller's tools the answering model asks for (`finish_reason`
    "tool_calls"; the walk ended at that node), `logprobs` its tokens' log-probabilities when asked.
    """

    output: str
    trace: Trace
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None

    @property
    def usage(self) -> Usage:
        """Tokens of every model call the request made."""
        return self.trace.usage

    def to_dict(self, redact: Callable[[str], str] = lambda s: s) -> dict[str, Any]:
        """A JSON-ready dict with secrets masked by `redact`; `tool_calls` (OpenAI's form) only when the
        model called tools, `logprobs` (OpenAI's token entries) only when they were asked for."""
        data: dict[str, Any] = {"output": redact(self.output), "finish_reason": self.finish_reason}
        if self.tool_calls:
            calls = (ToolCall(c.id, redact(c.name), redact(c.arguments), c.type) for c in self.tool_calls)
            data["tool_calls"] = [call.to_dict() for call in calls]
        if self.logprobs is not None:
            data["logprobs"] = _masked_logprobs(self.output, self.logprobs, redact)
        data["usage"] = self.usage.to_dict()
        data["trace"] = self.trace.to_dict(redact)
        return data


def _masked_logprobs(
    output: str, tokens: Sequence[TokenLogprob], redact: Callable[[str], str]
) -> list[dict[str, Any]]:
    """OpenAI's token entries; a token that holds a secret, or lies where one was masked in `output`
    (a secret split across tokens), becomes `***` with its alternatives."""
    secrets = masked_spans(output, redact(output))
    entries, start = [], 0
    for token in tokens:
        end = start + len(token.token)
        entries.append(shown_token(token, start, end, secrets, redact))
        start = end
    return entries


@dataclass
class RequestState:
    """What one run carries besides its data: the conversation around the routed user message, the
    caller's sampling parameters, the token callback, and the finish reason of the latest answer."""

    before: list[Message]
    after: list[Message]
    parameters: dict[str, Any] = field(default_factory=dict)
    on_token: TokenCallback | None = None
    finish_reason: str | None = None
    #: decide routes only: handlers and delegated nodes pass their input on instead of answering
    route_only: bool = False
    #: the caller's tools, response format and log-probability request, for the answering node
    answer: AnswerOptions = field(default_factory=AnswerOptions)
    on_chunk: ChunkCallback | None = None
    #: the latest answer's tool calls (ids as the caller sees them) and log-probabilities
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None


def split_messages(
    prompt: str | Sequence[Message | Mapping[str, str]],
) -> tuple[list[Message], int]:
    """The request's messages and the index of the last user message among them (a text is one)."""
    if isinstance(prompt, str):
        return [Message("user", prompt)], 0
    messages = [m if isinstance(m, Message) else Message.from_dict(m) for m in prompt]
    if not messages:
        raise PipelineError("the request has no messages")
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return messages, index
    raise PipelineError(
        "the request has no user message",
        hint="routing and conditions read the last user message; add one",
    )


def request_parameters(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a caller's sampling parameters (None values are dropped); a bad one is a UsageError."""
    checked: dict[str, Any] = {}
    for name, value in (parameters or {}).items():
        if value is None:
            continue
        problem = parameter_problem(name, value)
        if problem:
            hint = None
            if name not in _PARAMETER_RULES:
                hint = (
                    f"per-request parameters: {', '.join(_PARAMETER_RULES)}; "
                    "others belong in the composition's models.<name>.parameters"
                )
            raise UsageError(f"parameters.{name} {problem}", hint=hint)
        checked[name] = list(value) if isinstance(value, tuple) else value
    return checked


def parameter_problem(name: str, value: Any) -> str | None:
    """What is wrong with one per-request sampling parameter (`"must be a number ≥ 0"`), None when it
    is fine: the one rule for `Pipeline.run(parameters=...)` and for servers that accept them."""
    if name not in _PARAMETER_RULES:
        return "cannot be set per request"
    ok, need = _PARAMETER_RULES[name]
    return None if ok(value) else f"must be {need}, got {value!r}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: per-request sampling parameters (`Pipeline.run(parameters=...)`): a check, and what it asks for
_PARAMETER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "temperature": (lambda v: _number(v) and v >= 0, "a number ≥ 0"),
    "top_p": (lambda v: _number(v) and 0 < v <= 1, "a number above 0 and at most 1"),
    "max_tokens": (lambda v: _whole(v) and v >= 1, "a whole number ≥ 1"),
    "stop": (
        lambda v: isinstance(v, str) or (isinstance(v, list | tuple) and all(isinstance(x, str) for x in v)),
        "a string or a list of strings",
    ),
    "seed": (_whole, "a whole number"),
}
