"""What plugins receive for a `models`, `functions` or delegated `architecture` entry (`ModelSpec`,
`FunctionSpec`, `NodeSpec`), and which backend serves a model entry: the run-time view of the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..interpolate import ENV_REFERENCE_RE, resolve_secrets
from ..response_cache import CacheSpec
from ..types import FunctionSpec, ModelSpec, NodeSpec
from .catalogue import container_runners, runners, type_runners
from .schema import CacheConfig, FunctionConfig, ModelConfig, NodeConfig

Secrets = Mapping[str, Mapping[str, str]]
#: model keys the core reads itself; every other key goes to the backend in `ModelSpec.options`
#: (runner and interface stay there: backends use them for default ports and protocol variants)
MODEL_CORE_KEYS = frozenset(
    {"type", "backend", "url", "endpoint", "api-key", "model", "parameters", "deploy"}
)


def function_spec(
    name: str, config: FunctionConfig, base_dir: Path, secrets: Secrets | None = None
) -> FunctionSpec:
    """The `FunctionSpec` of a functions entry: secrets filled in (when given), `$VARIABLES` left for
    each call."""
    data = _resolved(config, secrets)
    data.pop("type", None)
    timeout = float(data.pop("timeout", 30.0))
    return FunctionSpec(name=name, type=config.type, options=data, timeout=timeout, base_dir=base_dir)


def model_spec(
    name: str,
    config: ModelConfig,
    backend: str,
    base_dir: Path,
    secrets: Secrets | None = None,
    *,
    require_env: bool = True,
) -> ModelSpec:
    """The `ModelSpec` of a models entry, with secrets and a `$ENV` API key filled in.

    An unset `$ENV` API key is a UsageError, or None without `require_env` (validation warns instead).
    """
    data = _resolved(config, secrets)
    api_key = data.get("api-key")
    match = ENV_REFERENCE_RE.match(api_key) if isinstance(api_key, str) else None
    if match:
        api_key = os.environ.get(match.group(1))
        if api_key is None and require_env:
            raise UsageError(
                f"models.{name}.api-key: environment variable {match.group(1)} is not set",
                hint=f"export {match.group(1)}=... before running",
            )
    return ModelSpec(
        name=name,
        backend=backend,
        url=data.get("url") or data.get("endpoint"),
        api_key=api_key or None,
        wire_model=data.get("model"),
        parameters=data.get("parameters", {}),
        options={k: v for k, v in data.items() if k not in MODEL_CORE_KEYS},
        base_dir=base_dir,
    )


def _resolved(config: FunctionConfig | ModelConfig | NodeConfig, secrets: Secrets | None) -> dict[str, Any]:
    """The entry's fields; `$secrets` references replaced when `secrets` is given, else as written."""
    data = config.model_dump(by_alias=True, exclude_none=True)
    return data if secrets is None else resolve_secrets(data, secrets)


def node_spec(config: NodeConfig, base_dir: Path, secrets: Secrets | None = None) -> NodeSpec:
    """The `NodeSpec` of a node whose adapter a plugin provides: its fields, secrets filled in."""
    return NodeSpec(config.name, config.adapter, _resolved(config, secrets), base_dir=base_dir)


def node_models(node: NodeConfig, default_router: str, routers: Any) -> list[str]:
    """The `models` keys a node calls: its own model, those its routing strategy names in its
    `router-options` (`Router.models`; a strategy that is not installed, or that fails to say, adds
    none), then its `fallback` models."""
    names = [node.model] if node.model else []
    cls = routers.get(node.router or default_router)
    if cls is not None:
        # a plugin's bug must not break validation or loading
        with contextlib.suppress(Exception):
            names += [m for m in cls.models(node.router_options) if isinstance(m, str) and m not in names]
    return names + [m for m in dict.fromkeys(node.fallback) if m not in names]


def cache_spec(
    pipeline: CacheConfig | None, node: CacheConfig | None, place: str = "settings.cache"
) -> CacheSpec | None:
    """The response cache of a node: `pipeline` (`settings.cache`) with what the node's own `cache`
    sets on top, or None when neither turns one on (`place` is the JSON path named in messages)."""
    if node is not None and not node.enabled:
        return None
    layers = [c for c in (pipeline, node) if c is not None and c.enabled]
    if not layers:
        return None
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer.model_dump(exclude_none=True, exclude={"enabled"}))
    return CacheSpec(place=place, **merged)


def resolve_backend(model: ModelConfig) -> tuple[str | None, str | None]:
    """Which backend plugin serves a model entry; returns (backend, reason it cannot be used)."""
    if model.backend:
        return model.backend, None
    runner = model.runner or type_runners().get(model.type or "")
    if runner in container_runners():
        return None, (
            f'runner "{runner}" starts a container, which llmnet does not do; start the server yourself '
            'and describe it with "type": "external" and its "url"'
        )
    if runner in (None, "external"):
        if model.type == "external" or runner == "external" or model.url:
            return model.interface or runners()["external"]["backend"], None
        return None, None
    entry = runners().get(runner)
    if entry is None:
        return None, None
    with_url = entry.get("with-url")
    return (with_url if with_url and (model.url or model.endpoint) else entry["backend"]), None
