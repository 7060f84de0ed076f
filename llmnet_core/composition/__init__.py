"""The composition file: loading (JSONC), validation with JSON paths, the resolved view the engine runs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import CompositionError, Problem, UsageError
from ..overrides import apply_overrides
from ..registry import Registries
from ..types import FunctionSpec, ModelSpec, SecretSpec
from .automatic import choose_strategies
from .jsonc import JSONCError, loads
from .schema import CompositionFile, ModelConfig, NodeConfig, json_schema
from .specs import function_spec, model_spec, resolve_backend
from .validate import SemanticChecks, Validator

__all__ = [
    "Composition",
    "CompositionFile",
    "NodeConfig",
    "default_composition_path",
    "json_schema",
    "load_composition",
    "read_composition",
    "validate_composition",
]


@dataclass
class Composition:
    """A validated composition, a plain value: the parsed file plus what the engine needs resolved
    (targets, entry, the nodes a request can reach)."""

    file: CompositionFile
    source: str
    base_dir: Path
    raw: dict[str, Any]
    targets: dict[str, list[str]]
    entry: str
    reachable: set[str]
    problems: list[Problem] = field(default_factory=list)

    @cached_property
    def nodes(self) -> dict[str, NodeConfig]:
        return {node.name: node for node in self.file.architecture}

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def is_output(self, name: str) -> bool:
        return self.nodes[name].adapter == "output"

    def model_spec(self, name: str, secrets: Mapping[str, Mapping[str, str]] | None = None) -> ModelSpec:
        """The resolved `ModelSpec` of a models entry, with secrets and `$ENV` API keys filled in."""
        config: ModelConfig = self.file.models[name]
        backend, refusal = resolve_backend(config)
        if backend is None:
            raise CompositionError(self.source, [Problem(f"models.{name}", refusal or "unusable model")])
        return model_spec(name, config, backend, self.base_dir, secrets)

    def function_spec(
        self, name: str, secrets: Mapping[str, Mapping[str, str]] | None = None
    ) -> FunctionSpec:
        """The resolved `FunctionSpec` of a functions entry (secrets filled in, variables left for calls)."""
        return function_spec(name, self.file.functions[name], self.base_dir, secrets)

    def secret_specs(self) -> list[SecretSpec]:
        """The `secrets` entries, in file order."""
        return [
            SecretSpec(
                name=name,
                source=cfg.source,
                options={k: v for k, v in cfg.model_dump(by_alias=True).items() if k != "source"},
                base_dir=self.base_dir,
            )
            for name, cfg in self.file.secrets.items()
        ]


def default_composition_path() -> Path:
    """The bundled default pipeline, run by `llmnet run PROMPT` and written out by `llmnet init`."""
    return Path(__file__).resolve().parent.parent / "data" / "default.jsonc"


def read_composition(path: str | os.PathLike[str]) -> tuple[Any, list[Problem]]:
    """Read and parse a composition file; a missing file or a syntax error raises CompositionError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", hint="check the path of the composition file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a composition file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc})") from None
    try:
        return loads(text)
    except JSONCError as exc:
        problem = Problem(f"line {exc.line}, column {exc.column}", exc.reason, exc.hint)
        raise CompositionError(str(path), [problem]) from None


def validate_composition(
    data: Any,
    *,
    source: str = "<composition>",
    base_dir: str | os.PathLike[str] | None = None,
    registries: Registries,
    check_env: bool = True,
) -> tuple[Composition | None, list[Problem]]:
    """Validate parsed composition data against what the plugins in `registries` provide; returns the
    composition (None when there are errors) and every problem found, errors and warnings."""
    validator = Validator(data, registries, check_env=check_env)
    parsed = validator.parse()
    if parsed is None:
        return None, validator.problems
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    checks = SemanticChecks(validator, parsed, base)
    checks.run()
    problems = validator.problems
    if any(p.severity == "error" for p in problems) or checks.entry is None:
        return None, problems
    composition = Composition(
        file=parsed,
        source=source,
        base_dir=base,
        raw=data,
        targets=checks.targets,
        entry=checks.entry,
        reachable=checks.reachable,
        problems=problems,
    )
    return composition, problems


def load_composition(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    registries: Registries,
    overrides: Iterable[str] = (),
) -> Composition:
    """Load a composition from a file path or an already parsed mapping, checked against what the
    plugins in `registries` provide; raises CompositionError listing every problem. `overrides`
    (`PATH=VALUE`, as `--set` takes them) change the document before it is checked."""
    if isinstance(source, Mapping):
        data, parse_warnings, name, base = dict(source), [], "<composition>", Path.cwd()
    else:
        data, parse_warnings = read_composition(source)
        name, base = str(source), Path(source).resolve().parent
    data = apply_overrides(data, overrides)
    composition, problems = validate_composition(data, source=name, base_dir=base, registries=registries)
    problems = parse_warnings + problems
    if composition is None:
        raise CompositionError(name, problems)
    composition.problems = problems
    choose_strategies(composition.file, composition.targets, registries)
    return composition
