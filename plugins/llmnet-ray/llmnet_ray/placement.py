"""Where the deployments of a pipeline run: their replicas and the Ray nodes those are on, from the Serve
controller's own account (what the Ray dashboard shows), for `/status` and the lines `serve --ray` prints."""

from __future__ import annotations

from collections import Counter
from typing import Any


def details() -> dict[str, Any]:
    """The Serve controller's account of every application (the dashboard's data)."""
    from ray.serve.context import _get_global_client

    return _get_global_client().get_serve_details()


def machine(replica: dict[str, Any]) -> str:
    """How a Ray node is named in llmnet's output: its IP and the start of its id (simulated nodes of
    one machine share the IP)."""
    node_id = str(replica.get("node_id") or "?")
    return f"{replica.get('node_ip') or '?'} ({node_id[:8]})"


def deployment_status(info: dict[str, Any] | None) -> dict[str, Any]:
    """One deployment's state: the replicas running, the target, and how many run on each Ray node."""
    if info is None:
        return {"status": "NOT_DEPLOYED", "replicas": 0, "target": 0, "machines": {}}
    running = [r for r in info.get("replicas", ()) if str(_value(r.get("state"))) == "RUNNING"]
    return {
        "deployment": info.get("name"),
        "status": str(_value(info.get("status"))),
        "replicas": len(running),
        "target": info.get("target_num_replicas"),
        "machines": dict(Counter(machine(r) for r in running)),
    }


def status(app: str, deployments: dict[str, str], ingress: str | None = None) -> dict[str, Any]:
    """The `ray` part of `/status`: per pipeline node, its deployment's replicas and where they run."""
    try:
        found = details().get("applications", {}).get(app)
    except Exception as exc:  # noqa: BLE001 - /status reports it rather than failing
        return {"application": app, "error": f"the Serve controller did not answer: {type(exc).__name__}"}
    if found is None:
        return {"application": app, "error": "the application is not deployed"}
    infos = found.get("deployments", {})
    out: dict[str, Any] = {
        "application": app,
        "status": str(_value(found.get("status"))),
        "nodes": {node: deployment_status(infos.get(name)) for node, name in deployments.items()},
    }
    others = set(infos) - set(deployments.values())
    if ingress is None and len(others) == 1:
        ingress = others.pop()
    if ingress is not None:
        out["ingress"] = deployment_status(infos.get(ingress))
    return out


def _value(item: Any) -> Any:
    return getattr(item, "value", item)
