"""Plain values passed between the engine and plugins (dataclasses, no behaviour beyond small helpers).

Treat them all as values. Those made for every model call or streamed piece (`Message`, `Usage`,
`ChatRequest`, `ChatResponse`, `StreamChunk`) are slotted rather than frozen, because a frozen
dataclass's `__init__` costs three to four times as much (~7,000 instructions for a `ChatRequest`),
which a server pays several times per request; they still compare and hash by value.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A call of one of the caller's tools that a model asks for: its `id` (the caller's `tool` message
    with the result carries it back), the function's `name` and its `arguments` as JSON text (OpenAI's
    form; backends whose servers send an object write it as JSON)."""

    id: str
    name: str
    arguments: str = "{}"
    type: str = "function"

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's form: `{"id", "type": "function", "function": {"name", "arguments"}}`."""
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call, as OpenAI streams them: `index` says which call of the answer it
    belongs to; the first piece of a call carries its `id` and `name`, the next ones more `arguments`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's streamed form: `{"index", "id", "type", "function": {"name", "arguments"}}`, with
        `id`, `type` and `name` only in a call's first piece."""
        function: dict[str, Any] = {"arguments": self.arguments}
        data: dict[str, Any] = {"index": self.index}
        if self.id is not None:
            data.update(id=self.id, type="function")
        if self.name is not None:
            function = {"name": self.name, **function}
        data["function"] = function
        return data


def assemble_tool_calls(deltas: Iterable[ToolCallDelta]) -> tuple[ToolCall, ...]:
    """The whole tool calls that streamed pieces make, in the order of their `index`."""
    calls: dict[int, list[str]] = {}
    for delta in deltas:
        call = calls.setdefault(delta.index, ["", "", ""])
        call[0] = delta.id or call[0]
        call[1] = delta.name or call[1]
        call[2] += delta.arguments
    return tuple(ToolCall(id, name, arguments or "{}") for _, (id, name, arguments) in sorted(calls.items()))


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability, and the likeliest alternatives at its place (`top`)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TokenLogprob, ...] = ()

    def to_dict(self, *, nested: bool = False) -> dict[str, Any]:
        """OpenAI's form: `{"token", "logprob", "bytes", "top_logprobs": [...]}` (no `top_logprobs` in
        the alternatives themselves, `nested`)."""
        data: dict[str, Any] = {
            "token": self.token,
            "logprob": self.logprob,
            "bytes": list(self.bytes) if self.bytes is not None else None,
        }
        if not nested:
            data["top_logprobs"] = [t.to_dict(nested=True) for t in self.top]
        return data


@dataclass(slots=True, unsafe_hash=True)
class Message:
    """One chat message as OpenAI-style APIs understand it: an assistant message may carry the
    `tool_calls` its model asked for, a `tool` message the `tool_call_id` of the call it answers."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's form (an assistant message that only calls tools has `content: null`)."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["content"] = self.content or None
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """A message from OpenAI's form (`content` null or absent reads as ""); for well-formed input,
        such as a server has checked: a missing `role` is a KeyError."""
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"].get("arguments") or "{}")
            for c in data.get("tool_calls") or ()
        )
        return cls(data["role"], data.get("content") or "", calls, data.get("tool_call_id"), data.get("name"))


@dataclass(slots=True, unsafe_hash=True)
class Usage:
    """Token counts of one model call (or a sum of several)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class ModelSpec:
    """A model entry of the composition, resolved: which backend serves it and how to reach it.

    `url` is the address as written (or None: the backend's default); backends normalise it.
    `options` holds every other key of the entry (runner, interface, source, timeouts, ...);
    relative paths in it (a model file's `source`) are relative to `base_dir`, the composition's folder.
    """

    name: str
    backend: str
    url: str | None = None
    api_key: str | None = None
    wire_model: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)


#: the tokens a plain answer may spend beyond the longest choice (a leading space, an end token, a word)
CHOICE_TOKEN_MARGIN = 8

#: what an answering model may be asked beyond text (`Backend.supports`), with the request field that asks
#: for it and what it means, for messages: offer tools to call, force a call (`tool_choice` "required" or
#: one function), allow one call at most, answer a JSON object, answer to a JSON schema, log-probabilities
FEATURES: dict[str, tuple[str, str]] = {
    "tools": ("tools", "call tools"),
    "tool_choice": ("tool_choice", "be made to call a tool"),
    "parallel_tool_calls": ("parallel_tool_calls", "be held to one tool call"),
    "json_object": ("response_format", "answer a JSON object"),
    "json_schema": ("response_format", "answer to a JSON schema"),
    "logprobs": ("logprobs", "return log-probabilities"),
}


@dataclass(frozen=True)
class AnswerOptions:
    """What a caller asks of the answering model besides text, in OpenAI's terms: `tools` it may call
    (OpenAI's tool objects) and `tool_choice`, `parallel_tool_calls`, a `response_format`
    (`{"type": "json_object"}` or `{"type": "json_schema", "json_schema": {"name", "schema", ...}}`),
    `logprobs` and `top_logprobs`. Only the node whose answer can be the output gets them; routers never do.
    """

    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: Mapping[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = None

    @property
    def offers_tools(self) -> bool:
        """True when the model may call tools (some are given, and `tool_choice` is not "none")."""
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def format_type(self) -> str | None:
        """`"json_object"` or `"json_schema"` when the answer must be JSON, else None (`text` or none)."""
        kind = self.response_format.get("type") if self.response_format else None
        return kind if kind in ("json_object", "json_schema") else None

    @property
    def json_schema(self) -> Mapping[str, Any] | None:
        """The schema of a `json_schema` response format (its `json_schema.schema`), else None."""
        if self.format_type != "json_schema":
            return None
        spec = self.response_format.get("json_schema") if self.response_format else None
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return schema if isinstance(schema, Mapping) else {}

    def features(self) -> tuple[str, ...]:
        """The `FEATURES` a backend needs to answer as asked (none for a plain text answer)."""
        needed = []
        if self.offers_tools:
            needed.append("tools")
            if self.tool_choice == "required" or isinstance(self.tool_choice, Mapping):
                needed.append("tool_choice")
            if self.parallel_tool_calls is False:
                needed.append("parallel_tool_calls")
        if self.format_type:
            needed.append(self.format_type)
        if self.logprobs:
            needed.append("logprobs")
        return tuple(needed)


@dataclass(slots=True, unsafe_hash=True)
class ChatRequest:
    """One model call: the messages, the model name to send on the wire and the sampling parameters.

    `choices`, when given, says the answer must be exactly one of these texts: a backend that
    `constrains_choices()` restricts generation to them and answers the choice itself; any other is sent
    a capped `max_tokens` (see `choice_max_tokens`) and its answer is read by the caller. `answer` holds
    the caller's tools, response format and log-probability request; the engine sends one only to a
    backend that `supports()` each of its `features()`.
    """

    messages: tuple[Message, ...]
    model: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    node: str | None = None
    request_id: str | None = None
    choices: tuple[str, ...] | None = None
    answer: AnswerOptions = field(default_factory=AnswerOptions)

    def choice_max_tokens(self, overhead: int = 0) -> int:
        """A bound on the tokens of an answer that is one of `choices`: the longest choice's UTF-8 bytes
        (no tokenizer makes more tokens than bytes), a small margin, and `overhead`, the tokens a wire
        format wraps the choice in (`{"choice": ...}`)."""
        longest = max((len(c.encode("utf-8")) for c in self.choices or ()), default=0)
        return longest + CHOICE_TOKEN_MARGIN + overhead

    def choice_schema(self) -> dict[str, Any]:
        """A JSON schema whose only valid documents are `{"choice": <one of choices>}` (an object at the
        top, as OpenAI's strict structured outputs require)."""
        return {
            "type": "object",
            "properties": {"choice": {"type": "string", "enum": list(self.choices or ())}},
            "required": ["choice"],
            "additionalProperties": False,
        }

    def choice_from_json(self, text: str) -> str | None:
        """The choice in an answer written to `choice_schema()`; None when the text is not such a document
        or names something that is not one of `choices`."""
        try:
            document = json.loads(text)
        except ValueError:
            return None
        value = document.get("choice") if isinstance(document, dict) else None
        return value if isinstance(value, str) and value in (self.choices or ()) else None


@dataclass(slots=True, unsafe_hash=True)
class ChatResponse:
    """A model's complete answer: its text, the tool calls it asks for (`finish_reason` "tool_calls"),
    and the log-probabilities of its tokens when they were asked for."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(slots=True, unsafe_hash=True)
class StreamChunk:
    """A piece of a streamed answer: text, pieces of tool calls, the log-probabilities of its tokens;
    the last chunk may carry usage and a finish reason."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    """A `functions` entry: its name, transport type, the remaining fields and the hook timeout in seconds.

    Relative paths in `options` (a program, a working directory, a .proto file) are relative to
    `base_dir`, the composition file's folder.
    """

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 30.0
    base_dir: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class NodeSpec:
    """An `architecture` node of a kind a plugin provides (its `adapter`, e.g. `ws`): its name, the
    node's fields as written (`url` among them) and how long its work may take in seconds."""

    name: str
    adapter: str
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 30.0
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def place(self) -> str:
        """How messages name this node: `node "relay"`."""
        return f'node "{self.name}"'


@dataclass(frozen=True)
class SecretSpec:
    """A `secrets` entry: its name, source, the remaining fields and the composition file's folder."""

    name: str
    source: str
    options: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class HookCall:
    """One invocation of a hook function by the engine.

    `data` is the text (or JSON object) the hook sees; `variables` holds `INPUT`, `OUTPUT`, `NODE`, ...
    as strings. Transports substitute variables into their fields with `llmnet_core.substitute`.
    """

    function: str
    phase: str  # "pre" or "post"
    mode: str  # "observe" or "transform"
    node: str
    data: Any
    variables: Mapping[str, str]
    timeout: float

    def envelope(self) -> dict[str, Any]:
        """The call as one JSON object, what a function receives when it does not shape its own input
        (the `rest` body, the `shell` stdin): `function, phase, mode, node, data, variables`."""
        return {
            "function": self.function,
            "phase": self.phase,
            "mode": self.mode,
            "node": self.node,
            "data": self.data,
            "variables": dict(self.variables),
        }


@dataclass(frozen=True)
class Candidate:
    """A node a router may choose, with what the router is told about it."""

    name: str
    use_case: str = ""
    examples: tuple[str, ...] = ()
    is_output: bool = False


#: `complete(messages, choices=None, **parameters)`: one chat call of the node's model
CompleteFn = Callable[..., Awaitable[ChatResponse]]
#: `embed(texts, model=None, persist=False)`: vectors from the node's model, or from the composition model
#: named `model`; `persist=True` only for texts of the configuration, whose vectors may be kept on disk
EmbedFn = Callable[..., Awaitable[list[list[float]]]]
#: `score(messages, choices)`: log-probability of each choice as the node's model's next answer
ScoreFn = Callable[..., Awaitable[dict[str, float]]]


@dataclass(frozen=True)
class RouteRequest:
    """What a routing strategy decides on: the text, the candidates, and a way to call the node's model.

    `complete(messages, choices=None, **parameters)` calls the routing node's model through the engine, so
    usage and timing are recorded; it is None when the node has no model. With `choices` (candidate names),
    the answer is restricted to one of them where the backend can, and its tokens are capped where it
    cannot. `embed` and `score` reach the model's embedding and choice-scoring capabilities (backends
    without them raise `BackendError`). `history` is the conversation before the routed message (system
    prompts, earlier turns), for strategies that keep a conversation with the handler that answered it.
    """

    text: str
    candidates: tuple[Candidate, ...]
    node: str
    variables: Mapping[str, str]
    complete: CompleteFn | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    embed: EmbedFn | None = None
    score: ScoreFn | None = None
    history: tuple[Message, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    """A router's choice: the target's name, why, the model's raw answer and any scores."""

    target: str
    reason: str
    answer: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
