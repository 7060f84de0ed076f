"""What plugins receive for a `models` or `functions` entry (`ModelSpec`, `FunctionSpec`), and the
plugins' own checks of those entries (`Backend.check`, `Transport.check`), run by `llmnet validate`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import Problem, UsageError
from ..interpolate import ENV_REFERENCE_RE, find_secret_references, resolve_secrets
from ..registry import Registries
from ..types import FunctionSpec, ModelSpec
from .schema import CompositionFile, FunctionConfig, ModelConfig

Secrets = Mapping[str, Mapping[str, str]]
#: model keys the core reads itself; every other key goes to the backend in `ModelSpec.options`
#: (runner and interface stay there: backends use them for default ports and protocol variants)
MODEL_CORE_KEYS = frozenset({"type", "backend", "url", "endpoint", "api-key", "model", "parameters"})


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


def _resolved(config: FunctionConfig | ModelConfig, secrets: Secrets | None) -> dict[str, Any]:
    """The entry's fields; `$secrets` references replaced when `secrets` is given, else as written."""
    data = config.model_dump(by_alias=True, exclude_none=True)
    return data if secrets is None else resolve_secrets(data, secrets)


def plugin_problems(
    file: CompositionFile,
    registries: Registries,
    base_dir: Path,
    reachable: set[str],
    *,
    secrets: Secrets | None = None,
    redact: Callable[[str], str] = lambda text: text,
) -> list[Problem]:
    """Ask each installed backend and transport to check its entries (`check` classmethods).

    Without `secrets`, every entry is checked as written, and problems about a field that holds a
    `$secrets` reference are left out (the reference is not a value yet). With `secrets`, the entries
    whose references all resolve are checked again with the values, and only those problems are kept,
    masked by `redact`.
    """
    from .validate import resolve_backend

    used_models = {n.model for n in file.architecture if n.name in reachable and n.model}
    used_functions = {
        hook.function
        for node in file.architecture
        if node.name in reachable
        for hook in (*node.hooks.pre, *node.hooks.post)
    }
    entries: list[tuple[str, Any, Any, bool]] = []  # path, config, plugin class, reachable
    for name, fn in file.functions.items():
        entries.append((f"functions.{name}", fn, registries.transports.get(fn.type), name in used_functions))
    for name, model in file.models.items():
        backend, _ = resolve_backend(model)
        cls = registries.backends.get(backend) if backend else None
        entries.append((f"models.{name}", model, cls, name in used_models))
    problems: list[Problem] = []
    for path, config, cls, used in entries:
        references = find_secret_references(config.model_dump(by_alias=True, exclude_none=True), path)
        if cls is None or (secrets is not None and not references):
            continue
        if secrets is not None and not all(var in secrets.get(b, {}) for _, b, var in references):
            continue  # a block that failed, or a missing variable: reported by the secret checks
        name = path.split(".", 1)[1]
        if path.startswith("functions."):
            spec: Any = function_spec(name, file.functions[name], base_dir, secrets)
        else:
            backend, _ = resolve_backend(config)
            spec = model_spec(name, config, backend or "", base_dir, secrets, require_env=False)
        try:
            found = _ask(cls, spec, path, used, redact)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop validation
            if secrets is None:
                message = f"the plugin could not check this entry ({type(exc).__name__})"
                problems.append(Problem(path, message, None, "warning"))
            continue
        referring = [ref_path for ref_path, _, _ in references]
        problems += [
            p for p in found if any(_covers(p.path, ref) for ref in referring) == (secrets is not None)
        ]
    return problems


def _covers(problem_path: str, reference_path: str) -> bool:
    """Whether a problem at `problem_path` may be about the value at `reference_path` (the same
    field, or an object or list that holds it)."""
    return reference_path == problem_path or reference_path.startswith(
        (f"{problem_path}.", f"{problem_path}[")
    )


def _ask(cls: Any, spec: Any, path: str, reachable: bool, redact: Callable[[str], str]) -> list[Problem]:
    """One entry's problems from its plugin: errors where a request can get to it, else warnings."""
    return [
        Problem(
            redact(p.path) if p.path else path,
            redact(p.message),
            redact(p.hint) if p.hint else None,
            p.severity if reachable else "warning",
        )
        for p in cls.check(spec)
        if isinstance(p, Problem)
    ]
