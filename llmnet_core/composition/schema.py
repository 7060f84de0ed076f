"""pydantic models of the composition file (kebab-case keys, compatible with the existing llmnet format)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from .catalogue import type_runners


def _kebab(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


class _Base(BaseModel):
    model_config = ConfigDict(
        alias_generator=_kebab,
        populate_by_name=True,
        extra="allow",
        str_strip_whitespace=False,
    )


#: keys of the old format that are accepted and ignored (the old server bound one port per node)
LEGACY_NODE_KEYS = frozenset({"bind-addr", "bind-port"})
LEGACY_MODEL_KEYS = frozenset({"docker"})


class ModelConfig(_Base):
    """A `models` entry: how to reach one model."""

    type: str | None = Field(
        None, description='"external": a server reached at `url`; a runner\'s name stands for that runner'
    )
    runner: str | None = Field(None, description="external, ollama, vllm or llama-cpp")
    interface: str | None = Field(None, description="wire protocol of an external model (openai-api)")
    backend: str | None = Field(None, description="backend plugin to use, overriding runner/interface")
    url: str | None = Field(None, description="server address, with or without a trailing /v1")
    endpoint: str | None = Field(None, description="server address (the `runner` form's name for url)")
    api_key: str | None = Field(
        None, description="API key: a literal, $ENV_VAR, or $secrets.<name>.<VAR>; null for none"
    )
    model: str | None = Field(None, description="model name sent on the wire (default: this entry's key)")
    source: str | None = Field(None, description="model file or repository (local runners)")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="sampling parameters passed to the backend (temperature, ...)"
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        allowed = ["external", *type_runners()]
        if value is not None and value not in allowed:
            raise ValueError(f"{value!r} is not a model type; use {' or '.join(map(repr, allowed))}")
        return value


class HookConfig(_Base):
    """One hook: which function to call, how, and when."""

    function: str = Field(description="key of `functions`")
    mode: Literal["observe", "transform"] = "observe"
    on_failure: Literal["continue", "abort"] = Field(
        "continue", validation_alias=AliasChoices("on-failure", "on_failure")
    )
    if_: str | None = Field(None, alias="if", description="condition; the hook runs only when it holds")


class HooksConfig(_Base):
    """Hooks run before (`pre`) and after (`post`) a node's model call."""

    model_config = ConfigDict(alias_generator=_kebab, populate_by_name=True, extra="forbid")

    pre: list[HookConfig] = Field(default_factory=list)
    post: list[HookConfig] = Field(default_factory=list)


class NodeConfig(_Base):
    """An `architecture` entry: a router, a handler, an output, or a node of a kind a plugin provides."""

    name: str
    adapter: str = Field(
        "openai-api", description="openai-api (a model node), output, or a node kind a plugin provides (ws)"
    )
    layer: int | None = Field(
        None, ge=0, description="the node's layer; 0 is the entry; left out: a node reached by name"
    )
    model: str | None = Field(None, description="key of `models`")
    output_to: list[int | str] | None = Field(
        None, description="where the result goes: all layer numbers or all node names"
    )
    use_case: str | None = Field(None, description="what a router is told about this node")
    examples: list[str] = Field(default_factory=list, description="example requests for this node")
    if_: str | None = Field(None, alias="if", description="condition for this node to be a target")
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    extra_options: dict[str, Any] = Field(default_factory=dict)
    context: str | None = Field(None, description="system prompt for this node's model")
    url: str | None = Field(None, description="the peer of a node a plugin's node kind runs (`ws`)")
    router: str | None = Field(None, description="routing strategy when this node has several targets")
    router_options: dict[str, Any] = Field(default_factory=dict)

    @property
    def level(self) -> int:
        """The layer the node counts in for layer targets and `$CURRENT_LAYER` (no layer: 0, as the
        earlier llmnet counted it)."""
        return self.layer or 0

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a node name cannot be empty")
        return value

    @field_validator("output_to", mode="before")
    @classmethod
    def _no_bools(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError("output-to holds layer numbers or node names, not true/false")
        return value


class FunctionConfig(_Base):
    """A `functions` entry: a hook function and the transport that carries it."""

    type: str = Field(description="transport: rest, shell, websocket, grpc, or a plugin's")
    timeout: float = Field(30.0, gt=0, description="seconds before the call fails")


class SecretConfig(_Base):
    """A `secrets` entry: where a block of secret variables comes from."""

    source: str = Field(description="env-file, env, vault, or a plugin's")


class SettingsConfig(_Base):
    """Pipeline-wide settings (new in this implementation; all optional)."""

    model_config = ConfigDict(alias_generator=_kebab, populate_by_name=True, extra="forbid")

    max_hops: int = Field(10, ge=1, description="nodes a request may visit before it is stopped")
    no_match: Literal["error", "all"] = Field(
        "error",
        description=(
            'when every target\'s `if` is false: "error", or "all" (consider them all, as the old tool did)'
        ),
    )
    router: str = Field("llm", description="default routing strategy")


class CompositionFile(_Base):
    """The whole composition file."""

    name: str | None = Field(
        None,
        min_length=1,
        description="the pipeline's name (`llmnet serve` offers it as the model id)",
    )
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    architecture: list[NodeConfig]
    functions: dict[str, FunctionConfig] = Field(default_factory=dict)
    secrets: dict[str, SecretConfig] = Field(default_factory=dict)
    settings: SettingsConfig = Field(default_factory=SettingsConfig)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of composition files, for editors."""
    schema = CompositionFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "llmnet composition"
    return schema
