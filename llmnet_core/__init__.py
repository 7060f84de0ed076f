"""llmnet: pipelines of small language models, routed layer after layer, extended through plugins.

This module is the public API, for plugin authors first and for library users (a pipeline run from
Python); everything listed in `__all__` is stable. Names are imported on first use so that
`import llmnet_core` (and `llmnet --help`) stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the hook marker and what registration hooks receive
    "hookimpl": "hookspecs",
    "Registrar": "registry",
    "ConditionRegistrar": "registry",
    "PluginHost": "plugins",
    "get_host": "plugins",
    # base classes
    "Backend": "base",
    "Transport": "base",
    "SecretProvider": "base",
    "NodeKind": "base",
    "Deployer": "base",
    "Router": "base",
    "ResponseCache": "response_cache",
    "MemoryCache": "response_cache",
    "CacheSpec": "response_cache",
    "Resources": "resources",
    "activity": "progress",
    "show_activity": "progress",
    # values
    "Message": "types",
    "Usage": "types",
    "ModelSpec": "types",
    "ChatRequest": "types",
    "ChatResponse": "types",
    "StreamChunk": "types",
    "FunctionSpec": "types",
    "NodeSpec": "types",
    "SecretSpec": "types",
    "HookCall": "types",
    "Candidate": "types",
    "RouteRequest": "types",
    "RouteDecision": "types",
    "AnswerOptions": "types",
    "ToolCall": "types",
    "ToolCallDelta": "types",
    "TokenLogprob": "types",
    "FEATURES": "types",
    "assemble_tool_calls": "types",
    # errors
    "LLMNetError": "errors",
    "Problem": "errors",
    "CompositionError": "errors",
    "UsageError": "errors",
    "PipelineError": "errors",
    "BackendError": "errors",
    "TransportError": "errors",
    "StepTimeoutError": "errors",
    "BackendTimeoutError": "errors",
    "TransportTimeoutError": "errors",
    "SecretError": "errors",
    "RoutingError": "errors",
    "UnsupportedFeatureError": "errors",
    # helpers
    "substitute": "interpolate",
    "substitute_json": "interpolate",
    "json_escape": "interpolate",
    "decode_reply": "hooks",
    "excerpt": "redact",
    "Redactor": "redact",
    "StreamRedactor": "redact",
    "masked_spans": "redact",
    "shown_token": "redact",
    "SecretFilter": "redact",
    "parse_env_file": "envfile",
    "cache_dir": "cache",
    "data_dir": "cache",
    "PluginOptions": "options",
    "option_problems": "options",
    "parse_options": "options",
    "parameter_problem": "run",
    "parse_vars": "cli",
    "env_file_option": "cli",
    "load_env_files": "cli",
    "override_option": "arguments",
    "apply_overrides": "overrides",
    "find_composition": "arguments",
    "provider_of": "composition.catalogue",
    "node_models": "composition.specs",
    "deploy_note": "composition.deploy",
    "REQUEST_VARIABLES": "variables",
    # request events, for observers (metrics, traces, logs)
    "Span": "events",
    "Observer": "events",
    "add_observer": "events",
    "span": "events",
    "current_span": "events",
    "flush_observers": "events",
    "Trace": "trace",
    "Hop": "trace",
    "HookOutcome": "trace",
    # library use
    "load_composition": "composition",
    "default_composition_path": "composition",
    "Pipeline": "engine",
    "RunResult": "run",
    "node_embedder": "embeddings",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmnet_core' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .arguments import find_composition, override_option
    from .base import Backend, Deployer, NodeKind, Router, SecretProvider, Transport
    from .cache import cache_dir, data_dir
    from .cli import env_file_option, load_env_files, parse_vars
    from .composition import default_composition_path, load_composition
    from .composition.catalogue import provider_of
    from .composition.deploy import deploy_note
    from .composition.specs import node_models
    from .embeddings import node_embedder
    from .engine import Pipeline
    from .envfile import parse_env_file
    from .errors import (
        BackendError,
        BackendTimeoutError,
        CompositionError,
        LLMNetError,
        PipelineError,
        Problem,
        RoutingError,
        SecretError,
        StepTimeoutError,
        TransportError,
        TransportTimeoutError,
        UnsupportedFeatureError,
        UsageError,
    )
    from .events import Observer, Span, add_observer, current_span, flush_observers, span
    from .hooks import decode_reply
    from .hookspecs import hookimpl
    from .interpolate import json_escape, substitute, substitute_json
    from .options import PluginOptions, option_problems, parse_options
    from .overrides import apply_overrides
    from .plugins import PluginHost, get_host
    from .progress import activity, show_activity
    from .redact import Redactor, SecretFilter, StreamRedactor, excerpt, masked_spans, shown_token
    from .registry import ConditionRegistrar, Registrar
    from .resources import Resources
    from .response_cache import CacheSpec, MemoryCache, ResponseCache
    from .run import RunResult, parameter_problem
    from .trace import HookOutcome, Hop, Trace
    from .types import (
        FEATURES,
        AnswerOptions,
        Candidate,
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
        TokenLogprob,
        ToolCall,
        ToolCallDelta,
        Usage,
        assemble_tool_calls,
    )
    from .variables import REQUEST_VARIABLES
