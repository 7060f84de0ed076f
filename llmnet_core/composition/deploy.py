"""`deploy` sections of nodes and models: the core keeps them as written and asks the installed deployers
(`Deployer.check`) to check them; a deployer uses them when it serves the pipeline (`serve --ray`), and
every command that runs the pipeline in its own process says in a note that they are ignored there."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from ..errors import Problem
from ..registry import Registries
from .catalogue import providers_of
from .schema import CompositionFile


class _Loaded(Protocol):
    """What the note reads of a loaded `Composition` (not imported here: it imports this module)."""

    file: CompositionFile
    reachable: set[str]
    source: str


#: names a deploy note shows before "and N more"
NOTE_NAMES = 3


def deploy_sections(file: CompositionFile) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each `deploy` section of the file with its JSON path: nodes first, then models."""
    for index, node in enumerate(file.architecture):
        if node.deploy is not None:
            yield f"architecture[{index}].deploy", node.deploy
    for name, model in file.models.items():
        if model.deploy is not None:
            yield f"models.{name}.deploy", model.deploy


def deploy_problems(file: CompositionFile, registries: Registries, reachable: set[str]) -> list[Problem]:
    """What the installed deployers find in the `deploy` sections (errors only where a request can get
    to the node), and a warning for a section that nothing will use."""
    sections = list(deploy_sections(file))
    if not sections:
        return []
    deployers = [reg.value for reg in registries.deployers.entries.values()]
    if not deployers:
        known = providers_of("deployer")
        hint = f"install one: pip install {' or '.join(known)}" if known else None
        return [
            Problem(path, "ignored: no installed plugin deploys nodes", hint, "warning")
            for path, _ in sections
        ]
    problems: list[Problem] = []
    nodes = {f"architecture[{i}].deploy": node for i, node in enumerate(file.architecture)}
    for path, section in sections:
        node = nodes.get(path)
        if node is not None and node.model is None:
            message = f'ignored: node "{node.name}" calls no model (a deployer places model calls)'
            problems.append(Problem(path, message, "move it to a node that has a model", "warning"))
            continue
        live = node is None or node.name in reachable
        for deployer in deployers:
            problems += _checked(deployer, section, path, live)
    return problems


def _checked(deployer: Any, section: Mapping[str, Any], path: str, live: bool) -> list[Problem]:
    """One deployer's problems with one section; a deployer's bug is a warning, not a crash."""
    try:
        found = [p for p in deployer.check(section, path) if isinstance(p, Problem)]
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop validation
        return [
            Problem(
                path, f"the deployer could not check this section ({type(exc).__name__})", None, "warning"
            )
        ]
    return [p if live else Problem(p.path, p.message, p.hint, "warning") for p in found]


def deploy_note(composition: _Loaded, registries: Registries) -> str | None:
    """The note a command that runs the pipeline in this process prints on stderr: which nodes and models
    carry `deploy` sections, ignored here, and the command that uses them; None when there is nothing to
    say (no section that a deployer would use, or no installed deployer: validation warned then)."""
    flags = [f"--{name}" for name, reg in registries.deployers.entries.items() if _serves(reg.value)]
    carried = _carriers(composition)
    if not flags or not carried:
        return None
    source = composition.source
    file = "COMPOSITION" if source.startswith("<") else shlex.quote(source)
    commands = " or ".join(f"`llmnet serve {file} {flag}`" for flag in flags)
    return (
        f"the deploy sections of {_listed(carried)} are ignored: not running on a deployer "
        f"(they take effect with {commands})"
    )


def _serves(deployer: Any) -> bool:
    """Whether `llmnet serve` offers the deployer as a flag (it has a `serve` method)."""
    return callable(getattr(deployer, "serve", None))


def _carriers(composition: _Loaded) -> list[tuple[str, str]]:
    """("node" | "model", name) for each section a deployer would use: nodes that call a model and that
    a request can reach (the others are warned about, or never deployed), then models."""
    file = composition.file
    nodes = [
        ("node", n.name)
        for n in file.architecture
        if n.deploy is not None and n.model is not None and n.name in composition.reachable
    ]
    return nodes + [("model", name) for name, model in file.models.items() if model.deploy is not None]


def _listed(carried: list[tuple[str, str]]) -> str:
    """`node "a"`, `nodes "a", "b" and model "m"`, `nodes "a", "b", model "m" and 4 more`."""
    shown, more = carried[:NOTE_NAMES], len(carried) - NOTE_NAMES
    parts = []
    for kind in ("node", "model"):
        names = [f'"{name}"' for k, name in shown if k == kind]
        if names:
            parts.append(f"{kind}{'s' if len(names) > 1 else ''} {', '.join(names)}")
    if more > 0:
        parts.append(f"{more} more")
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
