"""llmnet: pipelines of small language models, routed layer after layer, extended through plugins.

This module is the public API for plugin authors and library users; everything listed in `__all__`
is stable. Names are imported on first use so that `import llmnet_core` (and `llmnet --help`) stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # plugin markers and host
    "hookimpl": "plugins",
    "PluginHost": "plugins",
    "PluginInfo": "plugins",
    "PluginFailure": "plugins",
    "get_host": "plugins",
    # base classes
    "Backend": "base",
    "Transport": "base",
    "SecretProvider": "base",
    "Router": "base",
    "Resources": "resources",
    "activity": "progress",
    # values
    "Message": "types",
    "Usage": "types",
    "ModelSpec": "types",
    "ChatRequest": "types",
    "ChatResponse": "types",
    "StreamChunk": "types",
    "FunctionSpec": "types",
    "SecretSpec": "types",
    "HookCall": "types",
    "Candidate": "types",
    "RouteRequest": "types",
    "RouteDecision": "types",
    # errors
    "LLMNetError": "errors",
    "Problem": "errors",
    "CompositionError": "errors",
    "UsageError": "errors",
    "ConditionSyntaxError": "errors",
    "ConditionError": "errors",
    "PipelineError": "errors",
    "BackendError": "errors",
    "TransportError": "errors",
    "StepTimeoutError": "errors",
    "BackendTimeoutError": "errors",
    "TransportTimeoutError": "errors",
    "SecretError": "errors",
    "RoutingError": "errors",
    "HopLimitError": "errors",
    # helpers
    "substitute": "interpolate",
    "substitute_json": "interpolate",
    "json_escape": "interpolate",
    "excerpt": "redact",
    "Redactor": "redact",
    "load_env_file": "envfile",
    "parse_condition": "conditions",
    "Condition": "conditions",
    "PluginOptions": "options",
    "option_problems": "options",
    "parse_options": "options",
    "known_fields": "options",
    # calling servers over HTTP
    "Backoff": "net",
    "HTTPBackendOptions": "net",
    "retry_after_seconds": "net",
    "header_safe": "net",
    "mask_userinfo": "net",
    "connect_reason": "net",
    "plural": "net",
    "status_problem": "net",
    # test helpers for plugin authors (real HTTP servers on 127.0.0.1)
    "FakeHTTPServer": "testing",
    "FakeHTTPHandler": "testing",
    "FakeOpenAIServer": "testing",
    "RecordedRequest": "testing",
    "ScriptedResponse": "testing",
    "word_pieces": "testing",
    "free_port": "testing",
    # library use
    "Composition": "composition",
    "load_composition": "composition",
    "validate_composition": "composition",
    "Pipeline": "engine",
    "RunResult": "run",
    "Trace": "trace",
    "Hop": "trace",
    "HookOutcome": "trace",
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
    from .base import Backend, Router, SecretProvider, Transport
    from .composition import Composition, load_composition, validate_composition
    from .conditions import Condition, parse_condition
    from .engine import Pipeline
    from .envfile import load_env_file
    from .errors import (
        BackendError,
        BackendTimeoutError,
        CompositionError,
        ConditionError,
        ConditionSyntaxError,
        HopLimitError,
        LLMNetError,
        PipelineError,
        Problem,
        RoutingError,
        SecretError,
        StepTimeoutError,
        TransportError,
        TransportTimeoutError,
        UsageError,
    )
    from .interpolate import json_escape, substitute, substitute_json
    from .net import (
        Backoff,
        HTTPBackendOptions,
        connect_reason,
        header_safe,
        mask_userinfo,
        plural,
        retry_after_seconds,
        status_problem,
    )
    from .options import PluginOptions, known_fields, option_problems, parse_options
    from .plugins import PluginFailure, PluginHost, PluginInfo, get_host, hookimpl
    from .redact import Redactor, excerpt
    from .resources import Resources
    from .run import RunResult
    from .testing import (
        FakeHTTPHandler,
        FakeHTTPServer,
        FakeOpenAIServer,
        RecordedRequest,
        ScriptedResponse,
        free_port,
        word_pieces,
    )
    from .trace import HookOutcome, Hop, Trace
    from .types import (
        Candidate,
        ChatRequest,
        ChatResponse,
        FunctionSpec,
        HookCall,
        Message,
        ModelSpec,
        RouteDecision,
        RouteRequest,
        SecretSpec,
        StreamChunk,
        Usage,
    )
