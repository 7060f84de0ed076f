"""`deploy` sections of nodes and models: the core keeps them as written and asks the installed deployers
(`Deployer.check`) to check them; a deployer uses them when it serves the pipeline (`serve --ray`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import Problem
from ..registry import Registries
from .catalogue import providers_of
from .schema import CompositionFile


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
