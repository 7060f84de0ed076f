"""The manifests of `examples/deploy/` agree with the CLI: every `llmnet serve` they run parses with the
options that exist, the RayService's application and its args are llmnet serve's, the composition they
mount validates, and the Kubernetes objects point at each other."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from llmnet_ray.builder import NOT_HERE

from llmnet_core import get_host
from llmnet_core.composition import validate_composition

pytestmark = pytest.mark.filterwarnings("ignore:Using extra keyword arguments on `Field`:DeprecationWarning")
DEPLOY = Path(__file__).resolve().parents[3] / "examples" / "deploy"


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents() if doc.get("kind") == kind]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod["spec"]["containers"]


def serve_command() -> Any:
    from llmnet_serve.command import serve

    return serve


def serve_invocations() -> list[list[str]]:
    """The argument lists of every container that runs `llmnet serve`."""
    runs = []
    for doc in documents():
        pod = doc.get("spec", {}).get("template")
        for container in containers(pod) if pod else []:
            words = [*container.get("command", []), *container.get("args", [])]
            if words[:2] == ["llmnet", "serve"]:
                runs.append([str(word) for word in words[2:]])
    return runs


def test_the_manifests_run_llmnet_serve_somewhere() -> None:
    assert serve_invocations(), "no container runs llmnet serve"
    assert of_kind("RayService")


@pytest.mark.parametrize("args", serve_invocations(), ids=lambda args: " ".join(args[:2]))
def test_each_llmnet_serve_parses_with_the_options_that_exist(args: list[str]) -> None:
    command = serve_command()
    context = command.make_context("serve", list(args))  # an unknown option or a bad value raises here
    assert context.params["composition"].startswith("/config/")


def test_the_rayservice_application_is_llmnet_serves_with_its_options() -> None:
    [service] = of_kind("RayService")
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    options = {param.name for param in serve_command().params if param.name}
    for application in config["applications"]:
        module, _, name = application["import_path"].partition(":")
        assert callable(getattr(importlib.import_module(module), name))
        keys = {key.replace("-", "_") for key in application["args"]}
        assert keys <= options - NOT_HERE, keys - options
        assert application["args"]["composition"].startswith("/config/")


def test_the_mounted_composition_validates() -> None:
    [config_map] = of_kind("ConfigMap")
    for text in config_map["data"].values():
        composition, problems = validate_composition(json.loads(text), registries=get_host().registries)
        assert composition is not None, problems
        assert [p for p in problems if p.severity == "error"] == []
        assert any(node.deploy for node in composition.file.architecture)


def test_the_objects_point_at_each_other() -> None:
    [deployment] = of_kind("Deployment")
    [service] = of_kind("Service")
    [autoscaler] = of_kind("HorizontalPodAutoscaler")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [container] = containers(deployment["spec"]["template"])
    args = container["args"]
    port = args[args.index("--port") + 1]
    assert [p["containerPort"] for p in container["ports"]] == [int(port)]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    config_maps = {doc["metadata"]["name"] for doc in of_kind("ConfigMap")}
    mounted = [v["configMap"]["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]]
    assert set(mounted) <= config_maps


def test_the_rayservice_args_build_the_application(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmnet_ray.builder import app
    from ray.serve import Application

    [service] = of_kind("RayService")
    [config_map] = of_kind("ConfigMap")
    [application] = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    mounted = Path(application["args"]["composition"])
    (tmp_path / mounted.name).write_text(config_map["data"][mounted.name])
    monkeypatch.setenv("LLMNET_API_KEY", "sk-builder-canary")
    built = app({**application["args"], "composition": str(tmp_path / mounted.name)})
    assert isinstance(built, Application)
    with pytest.raises(Exception, match="--port: not an option of a Ray Serve config"):
        app({**application["args"], "port": 8080})
