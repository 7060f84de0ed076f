"""The Ray Serve application of a pipeline: one deployment per node that calls a model (placed and scaled
as its `deploy` section says) and the ingress, llmnet serve's own app, which holds their handles."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmnet_core import get_host, node_models

from .settings import DEFAULT_NUM_CPUS, DeploySettings, deployment_options, merged

#: the name of the ingress deployment (a node of that name gets a suffix)
INGRESS = "ingress"
#: requests an ingress replica takes beyond --max-concurrent, so that llmnet's own 429 answers them
#: rather than Ray's queue
INGRESS_HEADROOM = 8


@dataclass(frozen=True)
class NodePlan:
    """One node's deployment: its name in Ray Serve and its settings."""

    node: str
    deployment: str
    settings: DeploySettings


@dataclass(frozen=True)
class Plan:
    """The whole application: its name, the nodes' deployments and the ingress deployment's name."""

    app: str
    nodes: tuple[NodePlan, ...]
    ingress: str


def plan(composition: Any, app: str) -> Plan:
    """`composition` (as `load_composition` gives it) as an application named `app`: a deployment for
    every node a request can reach that calls some model, named after the node."""
    file = composition.file
    routers = get_host().registries.routers
    taken: set[str] = set()
    nodes = []
    for node in file.architecture:
        if node.name not in composition.reachable:
            continue
        if not node_models(node, file.settings.router, routers):
            continue
        model = file.models.get(node.model) if node.model else None
        settings = merged(model.deploy if model is not None else None, node.deploy)
        nodes.append(NodePlan(node.name, _unique(safe_name(node.name), taken), settings))
    return Plan(safe_name(app), tuple(nodes), _unique(INGRESS, taken))


def safe_name(text: str) -> str:
    """A Ray Serve name made of letters, digits, `-`, `_` and `.`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "node"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def application(the_plan: Plan, settings: Any) -> Any:
    """The bound Ray Serve application of `the_plan` with llmnet serve's `settings` (`ServeSettings`)."""
    data = settings.model_dump(mode="json")
    data["api_key"] = settings.api_key.get_secret_value() if settings.api_key else None
    data["composition"] = str(Path(settings.composition).resolve())
    return build(the_plan, data, data["composition"], list(getattr(settings, "overrides", ()) or ()))


def build(the_plan: Plan, settings: dict[str, Any], composition: str, overrides: list[str]) -> Any:
    """The bound Ray Serve application: `settings` are llmnet serve's (as JSON, API key included),
    `composition` the absolute path every replica loads, with `overrides` (`--set`) applied."""
    from ray import serve

    from .ingress import Ingress
    from .replica import NodeModels

    logging_config = {
        "log_level": str(settings.get("log_level", "warning")).upper(),
        "enable_access_log": bool(settings.get("access_log", False)),
    }
    path = str(Path(composition).resolve())
    handles = {}
    with warnings.catch_warnings():
        # Ray warns about a look-back period shorter than its default metrics interval
        warnings.simplefilter("ignore", FutureWarning)
        for node in the_plan.nodes:
            options = deployment_options(node.settings)
            deployment = serve.deployment(NodeModels, name=node.deployment, logging_config=logging_config)
            handles[node.node] = deployment.options(**options).bind(path, list(overrides), node.node)
    ingress = serve.deployment(
        serve.ingress()(Ingress),
        name=the_plan.ingress,
        num_replicas=int(settings.get("workers") or 1),
        max_ongoing_requests=int(settings.get("max_concurrent") or 256) + INGRESS_HEADROOM,
        graceful_shutdown_timeout_s=float(settings.get("graceful_timeout", 30.0)),
        ray_actor_options={"num_cpus": DEFAULT_NUM_CPUS},
        logging_config=logging_config,
    )
    deployments = {node.node: node.deployment for node in the_plan.nodes}
    return ingress.bind(settings, handles, deployments)
