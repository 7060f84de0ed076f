"""pydantic models of the composition file (kebab-case keys, compatible with the existing llmnet format)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

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
#: `deploy` (nodes and models) belongs to the installed deployers, which check it; the core keeps it
DEPLOY_DESCRIPTION = (
    "where and how many of this node (or of the nodes on this model) run when a deployer serves the "
    "pipeline (llmnet serve --ray): replicas, autoscaling, CPUs, GPUs"
)


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
    deploy: dict[str, Any] | None = Field(None, description=DEPLOY_DESCRIPTION)

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


class CacheConfig(_Base):
    """A response cache (`settings.cache` for every model node, a node's `cache` for its own): where
    answers are kept and for how long. `true` stands for `{}`, `false` for `{"enabled": false}`; a key a
    node leaves out comes from `settings.cache`, else from the defaults below."""

    model_config = ConfigDict(alias_generator=_kebab, populate_by_name=True, extra="forbid")

    enabled: bool = Field(True, description='false: no cache (what `"cache": false` says)')
    backend: str | None = Field(
        None, description='where answers are kept: "memory" (this process; the default) or a plugin\'s'
    )
    url: str | None = Field(
        None, description="the backend's address: a literal, $ENV_VAR or $secrets.<name>.<VAR>"
    )
    ttl: float | None = Field(
        None, gt=0, strict=True, allow_inf_nan=False, description="seconds an answer is kept (600)"
    )
    max_entries: int | None = Field(
        None,
        ge=1,
        strict=True,
        description="answers the memory backend keeps, least recently used dropped first (1000)",
    )
    temperature: bool | None = Field(
        None, description="also keep answers asked with a temperature above 0 (false)"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return {"enabled": False}
        return value


def _cache_schema(schema: dict[str, Any]) -> None:
    """A `cache` key in the JSON Schema: true or false as well as an object or null."""
    schema["anyOf"] = [{"type": "boolean"}, *schema.get("anyOf", [])]


def _one_or_more_schema(schema: dict[str, Any]) -> None:
    """A list of strings in the JSON Schema that may also be written as one string."""
    schema["anyOf"] = [{"type": "string"}, {"type": "array", "items": schema.pop("items")}]
    schema.pop("type", None)


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
    fallback: list[str] = Field(
        default_factory=list,
        description="keys of `models` tried in order when the node's model fails",
        json_schema_extra=_one_or_more_schema,
    )
    cache: CacheConfig | None = Field(
        None, description="this node's response cache (see settings.cache)", json_schema_extra=_cache_schema
    )
    deploy: dict[str, Any] | None = Field(None, description=DEPLOY_DESCRIPTION)

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

    @field_validator("fallback", mode="before")
    @classmethod
    def _one_fallback(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

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
    cooldown: float = Field(
        10.0,
        ge=0,
        le=86400,
        description="seconds a model that failed is passed over for the node's fallback models (0: never)",
    )
    cache: CacheConfig | None = Field(
        None,
        description="a response cache for every model node (off by default)",
        json_schema_extra=_cache_schema,
    )


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
