"""Base classes that plugins subclass: model backends, hook transports, secret providers, routers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from .errors import BackendError, Problem
from .resources import Resources
from .types import (
    ChatRequest,
    ChatResponse,
    FunctionSpec,
    HookCall,
    Message,
    ModelSpec,
    NodeSpec,
    RouteDecision,
    RouteRequest,
    SecretSpec,
    StreamChunk,
)


class Backend(ABC):
    """Serves chat completions for one `models` entry.

    One instance exists per model entry and pipeline; share connections through `resources`.
    Raise `BackendError` with a message that names the URL and says how to fix it.
    """

    #: a one-line description of the backend (defaults to the first line of the docstring)
    description: ClassVar[str] = ""

    def __init__(self, spec: ModelSpec, resources: Resources) -> None:
        self.spec = spec
        self.resources = resources

    @classmethod
    def check(cls, spec: ModelSpec) -> list[Problem]:
        """The problems of a model entry's fields, found without contacting anything (`llmnet validate`).

        Each problem names its JSON path (`models.NAME.FIELD`); the default finds none.
        """
        return []

    @property
    def location(self) -> str:
        """Where this backend sends requests, for error messages and the trace."""
        return self.spec.url or self.spec.backend

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Return the model's whole answer to `request`."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer piece by piece; the default yields the complete answer as one chunk.

        Return normally only when the answer is whole: callers take a stream that ended for the whole
        answer. A server that stops before its protocol's end marker is a BackendError, even after pieces.
        """
        response = await self.complete(request)
        yield StreamChunk(text=response.text, usage=response.usage, finish_reason=response.finish_reason)

    async def prepare(self) -> None:
        """Called once when the pipeline starts: begin slow set-up (loading a model) in the background.

        Must return quickly; errors belong to the first real call, which reports them.
        """

    def constrains_choices(self) -> bool:
        """True when `complete` restricts an answer to `request.choices` (a grammar, a JSON schema, a
        server's guided choice) and answers the choice itself; the default says no, and a request with
        `choices` then reaches `complete` with a small `max_tokens` (`ChatRequest.choice_max_tokens()`)."""
        return False

    def supports(self, feature: str) -> bool:
        """Whether `complete` and `stream` do `feature` (a key of `llmnet_core.types.FEATURES`: "tools",
        "json_schema", "logprobs", ...) when `request.answer` asks for it. The default says no to all:
        the engine then refuses such a request, naming the node, before this backend is called, so a
        backend that knows nothing of these features never silently answers without them."""
        return False

    async def embed(self, texts: Sequence[str], *, persist: bool = False) -> list[list[float]]:
        """One vector per text, for similarity routing; backends that cannot embed keep this default.

        `persist=True` says the texts come from the configuration (handler descriptions), not from users:
        a backend may keep their vectors on disk between runs. Request texts never get it.
        """
        raise BackendError(
            f'model "{self.spec.name}" ({self.spec.backend} backend) cannot compute embeddings',
            hint="name a model whose backend computes embeddings in router-options.embedding-model",
        )

    async def score_choices(self, messages: Sequence[Message], choices: Sequence[str]) -> dict[str, float]:
        """How likely the model is to answer each of `choices` next, as log-probabilities (higher = likelier).

        Used by constrained routing, whose answer can only ever be one of the choices.
        """
        raise BackendError(
            f'model "{self.spec.name}" ({self.spec.backend} backend) cannot score a fixed set of answers',
            hint="use a model whose backend can score fixed answers, or another routing strategy",
        )

    async def aclose(self) -> None:
        """Release what this backend holds itself (shared resources are closed by the pipeline)."""


class Transport(ABC):
    """Carries hook calls to the outside world for one `functions` entry (rest, shell, websocket, grpc...).

    `call` returns the peer's reply: None or "" for "no change", a str for text, a dict/list for JSON.
    Raise `TransportError` on failure; the engine applies the hook's `on_failure` policy.
    """

    description: ClassVar[str] = ""

    def __init__(self, spec: FunctionSpec, resources: Resources) -> None:
        self.spec = spec
        self.resources = resources

    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        """The problems of a function entry's fields, found without contacting anything (`llmnet
        validate`). Each problem names its JSON path (`functions.NAME.FIELD`); the default finds none."""
        return []

    @abstractmethod
    async def call(self, call: HookCall) -> Any:
        """Invoke the function once and return its reply."""

    async def aclose(self) -> None:
        """Release what this transport holds itself."""


class NodeKind(ABC):
    """Does the work of nodes whose `adapter` names it, elsewhere (`ws`: a WebSocket peer answers).

    One instance exists per node and pipeline. `call` gets the node's input as a `HookCall` and returns
    the reply, read like a transform hook's (`decode_reply`); raise `TransportError` naming the node.
    """

    description: ClassVar[str] = ""

    def __init__(self, spec: NodeSpec, resources: Resources) -> None:
        self.spec = spec
        self.resources = resources

    @classmethod
    def check(cls, spec: NodeSpec) -> list[Problem]:
        """The problems of such a node's fields, found without contacting anything (`llmnet validate`);
        paths are the node's own fields (`url`), the validator places them in the architecture."""
        return []

    @abstractmethod
    async def call(self, call: HookCall) -> Any:
        """Send the node's input (`call.data`) and return the reply."""

    async def aclose(self) -> None:
        """Release what this node holds itself."""


class SecretProvider(ABC):
    """Loads the values of one `secrets` entry, once, before the pipeline starts.

    Raise `SecretError` naming the secret (never its value) when something is missing.
    """

    description: ClassVar[str] = ""

    def __init__(self, spec: SecretSpec) -> None:
        self.spec = spec

    @abstractmethod
    async def load(self) -> Mapping[str, str]:
        """Return the variables of this secret block, by name."""


class Deployer:
    """Runs a pipeline's model calls elsewhere, each node's where the `deploy` sections of the node and of
    its model say (Ray Serve: each node its own deployment). The core keeps those sections as written
    and asks the installed deployers to check them; a command that serves pipelines offers each one."""

    description: ClassVar[str] = ""

    @classmethod
    def check(cls, section: Mapping[str, Any], path: str) -> list[Problem]:
        """The problems of one `deploy` section at `path` (`architecture[2].deploy`, `models.x.deploy`),
        found without contacting anything; each names its JSON path. The default finds none."""
        return []


class Router(ABC):
    """A routing strategy: picks one of several candidate nodes for a request."""

    description: ClassVar[str] = ""

    @classmethod
    def models(cls, options: Mapping[str, Any]) -> list[str]:
        """Keys of `models` this strategy calls besides the node's own, given the node's `router-options`
        (a semantic router's `embedding-model`): `validate` checks them as models in use, and a pipeline
        loads them when it starts."""
        return []

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> list[Problem]:
        """The problems of a node's `router-options` for this strategy (an unknown key, a wrong type),
        their paths relative to the options (`"min-score"`): `validate` reports them at the node."""
        return []

    @abstractmethod
    async def choose(self, request: RouteRequest) -> RouteDecision:
        """Return the chosen candidate (its name must be one of `request.candidates`)."""
