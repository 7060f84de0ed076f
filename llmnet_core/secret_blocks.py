"""Loading a composition's secret blocks through their providers.

Shared by `Pipeline.start()`, which stops at the first problem, and `llmnet validate`, which lists
them all. Problems name the block or the referring JSON path, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from .composition.plugin_checks import secret_field_problems
from .errors import LLMNetError, Problem, SecretError
from .interpolate import find_secret_references
from .redact import Redactor

if TYPE_CHECKING:  # pragma: no cover
    from .composition import Composition
    from .registry import Registries
    from .types import SecretSpec

#: the sections whose strings may hold `$secrets.<block>.<VAR>` (the engine resolves them there)
REFERRING_SECTIONS = ("models", "architecture", "functions", "settings")
Secrets = dict[str, dict[str, str]]


async def load_block(spec: SecretSpec, registries: Registries) -> dict[str, str]:
    """The variables of one secret block, from its provider; any failure is a SecretError naming it."""
    cls = registries.secret_providers.get(spec.source)
    if cls is None:
        raise SecretError(
            f'secrets.{spec.name}: no installed plugin provides the source "{spec.source}"',
            hint="run `llmnet plugins` to see what is installed",
        )
    try:
        return dict(await cls(spec).load())
    except LLMNetError:
        raise
    except Exception as exc:  # noqa: BLE001 - a provider's bug becomes a clear error
        raise SecretError(f"secrets.{spec.name}: could not be loaded ({type(exc).__name__})") from None


def missing_variables(
    raw: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]], skip: Collection[str] = ()
) -> list[Problem]:
    """A problem for each `$secrets.<block>.<VAR>` whose block has no VAR (blocks in `skip` are not
    looked at: they are undefined or failed to load, which is reported elsewhere)."""
    problems = []
    for section in REFERRING_SECTIONS:
        for path, block, var in find_secret_references(raw.get(section), section):
            if block in skip or var in secrets.get(block, {}):
                continue
            names = ", ".join(sorted(secrets.get(block, {}))) or "none"
            problems.append(
                Problem(path, f'secret "{block}" has no variable {var}', f"variables of {block}: {names}")
            )
    return problems


async def load_secrets(composition: Composition, registries: Registries, redactor: Redactor) -> Secrets:
    """Load every block (its values join `redactor` at once) and check every reference; raise the
    first problem as a SecretError."""
    secrets: Secrets = {}
    for spec in composition.secret_specs():
        secrets[spec.name] = await load_block(spec, registries)
        redactor.add(secrets[spec.name].values())
    for problem in missing_variables(composition.raw, secrets):
        raise SecretError(f"{problem.path}: {problem.message}", hint=problem.hint)
    return secrets


async def check_secrets(
    composition: Composition, registries: Registries, redactor: Redactor
) -> tuple[Secrets, list[Problem]]:
    """Load every block it can and list every problem: each block that fails (with its provider's
    message, masked) and each reference to a variable a loaded block lacks."""
    secrets: Secrets = {}
    failures: list[tuple[str, LLMNetError]] = []
    for spec in composition.secret_specs():
        try:
            secrets[spec.name] = await load_block(spec, registries)
        except LLMNetError as exc:
            failures.append((spec.name, exc))
            continue
        redactor.add(secrets[spec.name].values())
    problems = [_block_problem(name, exc, redactor) for name, exc in failures]
    # a block that failed is reported above, an undefined one by the validator
    skip = {block for _, block, _ in find_secret_references(composition.raw) if block not in secrets}
    problems += missing_variables(composition.raw, secrets, skip)
    return secrets, problems


def _block_problem(name: str, exc: LLMNetError, redact: Redactor) -> Problem:
    """A provider's error as a problem at `secrets.<name>` (or the deeper path its message starts with)."""
    message = redact(exc.message)
    path = f"secrets.{name}"
    match = re.match(rf"({re.escape(path)}(?:\.[\w.-]+)?): (.*)", message, re.DOTALL)
    if match:
        path, message = match.groups()
    return Problem(path, message, redact(exc.hint) if exc.hint else None)


async def secret_problems(composition: Composition, registries: Registries) -> list[Problem]:
    """Load every secret block as a run would and list what fails, without raising (`llmnet validate`):
    blocks that cannot be loaded, references to variables they lack, and the plugins' checks of the
    fields that hold `$secrets` references. No value appears in the problems."""
    redactor = Redactor()
    secrets, problems = await check_secrets(composition, registries, redactor)
    file, base, reachable = composition.file, composition.base_dir, composition.reachable
    return problems + secret_field_problems(file, registries, base, reachable, secrets, redactor)
