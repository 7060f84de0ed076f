"""The plugins' own checks of the entries they serve (`Backend.check`, `Transport.check`,
`NodeKind.check`, `Router.check` of a node's `router-options`), run by `llmnet validate`: once on the
file as written, and once more on the fields that hold `$secrets` references, when the secrets are
loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..interpolate import find_secret_references
from ..registry import Registries
from .schema import CompositionFile
from .specs import function_spec, model_spec, node_models, node_spec, resolve_backend

Secrets = Mapping[str, Mapping[str, str]]


Reference = tuple[str, str, str]  #: the JSON path of a `$secrets.<block>.<VAR>` reference, block, VAR


@dataclass
class _Entry:
    """One entry a plugin checks: where it is, who checks it, whether a request reaches it."""

    path: str
    plugin: Any
    reachable: bool
    references: list[Reference]
    spec: Callable[[Secrets | None], Any]
    relative: bool = False  #: the plugin's problem paths are relative to `path` (node kinds)


def plugin_problems(
    file: CompositionFile, registries: Registries, base_dir: Path, reachable: set[str]
) -> list[Problem]:
    """Every entry checked as written, except problems about a field that holds a `$secrets` reference
    (the reference is not a value yet). A plugin that fails while checking is a warning."""
    problems: list[Problem] = []
    for entry in _entries(file, registries, base_dir, reachable):
        try:
            found = _ask(entry, entry.spec(None), lambda text: text)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop validation
            message = f"the plugin could not check this entry ({type(exc).__name__})"
            problems.append(Problem(entry.path, message, None, "warning"))
            continue
        problems += [p for p in found if not _about_references(p, entry)]
    return problems


def secret_field_problems(
    file: CompositionFile,
    registries: Registries,
    base_dir: Path,
    reachable: set[str],
    secrets: Secrets,
    redact: Callable[[str], str],
) -> list[Problem]:
    """The entries whose `$secrets` references all resolve, checked again with the values: only the
    problems about those fields, masked by `redact`."""
    problems: list[Problem] = []
    for entry in _entries(file, registries, base_dir, reachable):
        if not entry.references or not all(var in secrets.get(b, {}) for _, b, var in entry.references):
            continue  # a block that failed, or a missing variable: reported by the secret checks
        try:
            found = _ask(entry, entry.spec(secrets), redact)
        except Exception:  # noqa: BLE001 - reported by the first pass, without the values
            continue
        problems += [p for p in found if _about_references(p, entry)]
    return problems


def _entries(
    file: CompositionFile, registries: Registries, base_dir: Path, reachable: set[str]
) -> Iterator[_Entry]:
    """The functions, models and delegated nodes that an installed plugin can check."""
    used_models = {
        model
        for n in file.architecture
        if n.name in reachable
        for model in node_models(n, file.settings.router, registries.routers)
    }
    used_functions = {
        hook.function
        for node in file.architecture
        if node.name in reachable
        for hook in (*node.hooks.pre, *node.hooks.post)
    }
    for name, fn in file.functions.items():
        path = f"functions.{name}"
        cls = registries.transports.get(fn.type)
        if cls is not None:
            spec = _bind(function_spec, name, fn, base_dir)
            yield _Entry(path, cls, name in used_functions, _references(fn, path), spec)
    for name, model in file.models.items():
        path = f"models.{name}"
        backend, _ = resolve_backend(model)
        cls = registries.backends.get(backend) if backend else None
        if cls is not None:
            spec = _bind(model_spec, name, model, backend, base_dir, require_env=False)
            yield _Entry(path, cls, name in used_models, _references(model, path), spec)
    for index, node in enumerate(file.architecture):
        cls = registries.node_kinds.get(node.adapter)
        if cls is not None:
            path = f"architecture[{index}]"
            refs = _references(node, path)
            yield _Entry(path, cls, node.name in reachable, refs, _bind(node_spec, node, base_dir), True)
        router = registries.routers.get(node.router or file.settings.router)
        if router is not None and node.router_options:
            options = node.router_options
            path = f"architecture[{index}].router-options"
            yield _Entry(path, router, node.name in reachable, [], lambda _, o=options: o, True)


def _bind(make: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[Secrets | None], Any]:
    """`make(*args, secrets, **kwargs)` for the secrets given later."""
    return lambda secrets: make(*args, secrets, **kwargs)


def _references(config: Any, path: str) -> list[Reference]:
    return find_secret_references(config.model_dump(by_alias=True, exclude_none=True), path)


def _about_references(problem: Problem, entry: _Entry) -> bool:
    """Whether a problem may be about a value that a `$secrets` reference stands for (the same field,
    or an object or list that holds it)."""
    return any(
        ref == problem.path or ref.startswith((f"{problem.path}.", f"{problem.path}["))
        for ref, _, _ in entry.references
    )


def _ask(entry: _Entry, spec: Any, redact: Callable[[str], str]) -> list[Problem]:
    """One entry's problems from its plugin: errors where a request can get to it, else warnings."""
    out = []
    for p in entry.plugin.check(spec):
        if not isinstance(p, Problem):
            continue
        path = redact(p.path) if p.path else entry.path
        if entry.relative and p.path:
            path = f"{entry.path}.{path}"
        hint = redact(p.hint) if p.hint else None
        out.append(Problem(path, redact(p.message), hint, p.severity if entry.reachable else "warning"))
    return out
