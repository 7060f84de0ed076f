"""Plain values passed between the engine and plugins (dataclasses, no behaviour beyond small helpers)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Message:
    """One chat message as OpenAI-style APIs understand it."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ChatRequest:
    """One model call: the messages, the model name to send on the wire and the sampling parameters.

    `choices`, when given, says the answer must be exactly one of these texts: a backend that
    `constrains_choices()` restricts generation to them and answers the choice itself; any other is sent
    a capped `max_tokens` (see `choice_max_tokens`) and its answer is read by the caller.
    """

    messages: tuple[Message, ...]
    model: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    node: str | None = None
    request_id: str | None = None
    choices: tuple[str, ...] | None = None

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


@dataclass(frozen=True)
class ChatResponse:
    """A model's complete answer."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class StreamChunk:
    """A piece of a streamed answer; the last chunk may carry usage and a finish reason."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


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
