"""`deploy` sections without a cluster: validated at their JSON paths, merged node over model, turned into
Ray Serve's deployment options; `serve --ray` offered by the plugin, and named when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_ray.graph import plan, safe_name
from llmnet_ray.settings import deployment_options, describe, merged

from llmnet_core import Pipeline, get_host
from llmnet_core.cli import cli
from llmnet_core.composition import validate_composition

LLMNET = str(Path(sys.executable).with_name("llmnet"))


def pipeline(model_deploy: Any = None, **node_deploy: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"type": "external", "interface": "openai-api", "url": "http://127.0.0.1:9/v1"}
    if model_deploy is not None:
        model["deploy"] = model_deploy
    node: dict[str, Any] = {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]}
    if node_deploy:
        node["deploy"] = node_deploy["deploy"]
    return {"models": {"m": model}, "architecture": [node, {"name": "output", "adapter": "output"}]}


def problems(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    _, found = validate_composition(data, registries=get_host().registries)
    return [(p.path, p.message, p.severity) for p in found]


def test_a_valid_section_passes_on_nodes_and_models() -> None:
    scaling = {
        "autoscaling": {"min": 1, "max": 4, "target-ongoing-requests": 2},
        "num-cpus": 1,
        "num-gpus": 0,
    }
    assert problems(pipeline({"replicas": 2}, deploy=scaling)) == []


@pytest.mark.parametrize(
    ("section", "path", "message"),
    [
        ({"replica": 2}, "architecture[0].deploy.replica", 'unknown field (did you mean "replicas"?)'),
        ({"replicas": 0}, "architecture[0].deploy.replicas", "Input should be greater than or equal to 1"),
        ({"replicas": "2"}, "architecture[0].deploy.replicas", "Input should be a valid integer"),
        ({"num-cpus": -1}, "architecture[0].deploy.num-cpus", "Input should be greater than or equal to 0"),
        ({"autoscaling": {"min": 1}}, "architecture[0].deploy.autoscaling.max", "is required"),
        (
            {"autoscaling": {"min": 3, "max": 2}},
            "architecture[0].deploy.autoscaling",
            "min (3) is above max (2)",
        ),
        (
            {"autoscaling": {"max": 2, "target": 1}},
            "architecture[0].deploy.autoscaling.target",
            "unknown field",
        ),
        (
            {"replicas": 2, "autoscaling": {"max": 2}},
            "architecture[0].deploy",
            "give replicas or autoscaling",
        ),
    ],
)
def test_a_bad_key_or_value_is_an_error_at_its_path(section: dict[str, Any], path: str, message: str) -> None:
    found = problems(pipeline(deploy=section))
    assert [(p, s) for p, m, s in found if m.startswith(message)] == [(path, "error")], found


def test_a_model_section_is_checked_at_the_model_path() -> None:
    found = problems(pipeline({"replicas": -1}))
    assert [(p, s) for p, _, s in found] == [("models.m.deploy.replicas", "error")]


def test_a_section_that_is_not_an_object_is_a_schema_error() -> None:
    found = problems(pipeline(deploy=3))
    assert [(p, s) for p, _, s in found] == [("architecture[0].deploy", "error")]


def test_a_node_without_a_model_has_nothing_to_deploy() -> None:
    data = pipeline()
    data["architecture"][1]["deploy"] = {"replicas": 2}
    assert problems(data) == [
        (
            "architecture[1].deploy",
            'ignored: node "output" calls no model (a deployer places model calls)',
            "warning",
        )
    ]


def test_the_node_says_how_it_scales_over_its_model() -> None:
    settings = merged({"replicas": 3, "num-cpus": 2}, {"autoscaling": {"max": 4}})
    assert settings.replicas is None and settings.autoscaling is not None
    assert settings.num_cpus == 2
    options = deployment_options(settings)
    assert options["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 2.0,
    }
    assert options["ray_actor_options"] == {"num_cpus": 2}
    assert "num_replicas" not in options
    assert describe(settings) == "autoscaling 1-4"
    fixed = merged({"replicas": 3}, {"num-gpus": 1})
    assert deployment_options(fixed)["num_replicas"] == 3
    assert deployment_options(fixed)["ray_actor_options"]["num_gpus"] == 1
    assert describe(fixed) == "3 replicas"


def test_each_node_that_calls_a_model_gets_a_deployment_named_after_it(write_composition) -> None:
    data = pipeline({"replicas": 2})
    data["architecture"][0]["name"] = "ingress"  # the ingress deployment's own name
    composition = Pipeline.from_dict(data).composition
    the_plan = plan(composition, "my pipeline")
    assert [(n.node, n.deployment, n.settings.replicas) for n in the_plan.nodes] == [
        ("ingress", "ingress", 2)
    ]
    assert the_plan.ingress == "ingress-2"
    assert the_plan.app == "my_pipeline"
    assert safe_name("a/b c") == "a_b_c"


def test_without_ray_a_note_names_the_sections_ignored_and_the_flag(write_composition) -> None:
    from llmnet_core import deploy_note

    path = write_composition(pipeline({"replicas": 2}, deploy={"num-cpus": 1}))
    loaded = Pipeline.from_file(path)
    assert deploy_note(loaded.composition, loaded.registries) == (
        'the deploy sections of node "chat" and model "m" are ignored: not running on a deployer '
        f"(they take effect with `llmnet serve {path} --ray`)"
    )


def test_ray_options_need_ray(write_composition) -> None:
    path = write_composition(pipeline())
    result = CliRunner().invoke(cli, ["serve", str(path), "--ray-address", "127.0.0.1:6379"])
    assert result.exit_code == 2
    assert "--ray-address applies only with --ray" in result.output


def test_ray_without_the_plugin_names_the_plugin_to_install(write_composition) -> None:
    path = write_composition(pipeline())
    env = {**os.environ, "LLMNET_BLOCK_PLUGINS": "llmnet-ray"}
    done = subprocess.run(
        [LLMNET, "serve", str(path), "--ray"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--ray serves on the deployer 'ray', whose plugin llmnet-ray is not installed" in done.stderr
    assert "pip install llmnet-ray" in done.stderr
    assert "Traceback" not in done.stderr
