"""The `deploy` section as this plugin reads it (on a node or a model), checked with pydantic, and the
Ray Serve options each node's deployment gets from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from llmnet_core import PluginOptions, Problem, option_problems

HINT = (
    "deploy takes replicas, or autoscaling {min, max, target-ongoing-requests, upscale-delay, "
    "downscale-delay, look-back-period}, and num-cpus, num-gpus, max-ongoing-requests"
)
#: CPUs Ray reserves for a replica unless `num-cpus` says otherwise: small, so that a pipeline of a few
#: nodes fits on a laptop; give a CPU-bound node (an embedded model) what it uses
DEFAULT_NUM_CPUS = 0.25
#: requests one replica of a node takes at once before Ray queues more for it
DEFAULT_MAX_ONGOING = 32


class Autoscaling(PluginOptions):
    """`deploy.autoscaling`: Ray adds replicas while each has more than `target-ongoing-requests` in
    flight, up to `max`, and removes them again down to `min`."""

    min: int = Field(1, ge=0, le=1000, strict=True)
    max: int = Field(ge=1, le=1000, strict=True)
    target_ongoing_requests: float = Field(2.0, gt=0, allow_inf_nan=False)
    upscale_delay: float | None = Field(None, ge=0, le=3600, allow_inf_nan=False)
    downscale_delay: float | None = Field(None, ge=0, le=86400, allow_inf_nan=False)
    look_back_period: float | None = Field(None, gt=0, le=3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _min_below_max(self) -> Autoscaling:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class DeploySettings(PluginOptions):
    """A `deploy` section: how many replicas of the node run (fixed, or autoscaled) and what Ray
    reserves for each."""

    replicas: int | None = Field(None, ge=1, le=1000, strict=True)
    autoscaling: Autoscaling | None = None
    num_cpus: float | None = Field(None, ge=0, le=1024, allow_inf_nan=False)
    num_gpus: float | None = Field(None, ge=0, le=64, allow_inf_nan=False)
    max_ongoing_requests: int | None = Field(None, ge=1, le=100_000, strict=True)

    @model_validator(mode="after")
    def _one_way_to_scale(self) -> DeploySettings:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError("give replicas or autoscaling, not both")
        return self


def check(section: Mapping[str, Any], path: str) -> list[Problem]:
    """The problems of one `deploy` section, each at its JSON path."""
    return option_problems(DeploySettings, section, path, hint=HINT)[1]


def merged(model: Mapping[str, Any] | None, node: Mapping[str, Any] | None) -> DeploySettings:
    """A node's settings: its model's `deploy`, with the node's own keys on top (a node that says how it
    scales, by replicas or autoscaling, replaces both of its model's)."""
    data = dict(model or {})
    own = dict(node or {})
    if {"replicas", "autoscaling"} & own.keys():
        data.pop("replicas", None)
        data.pop("autoscaling", None)
    return DeploySettings.model_validate({**data, **own})


def deployment_options(settings: DeploySettings) -> dict[str, Any]:
    """The options of `serve.deployment(...)` for a node with these settings."""
    actor: dict[str, Any] = {"num_cpus": DEFAULT_NUM_CPUS if settings.num_cpus is None else settings.num_cpus}
    if settings.num_gpus:
        actor["num_gpus"] = settings.num_gpus
    options: dict[str, Any] = {
        "ray_actor_options": actor,
        "max_ongoing_requests": settings.max_ongoing_requests or DEFAULT_MAX_ONGOING,
    }
    scaling = settings.autoscaling
    if scaling is None:
        options["num_replicas"] = settings.replicas or 1
        return options
    config: dict[str, Any] = {
        "min_replicas": scaling.min,
        "max_replicas": scaling.max,
        "target_ongoing_requests": scaling.target_ongoing_requests,
    }
    for key, value in (
        ("upscale_delay_s", scaling.upscale_delay),
        ("downscale_delay_s", scaling.downscale_delay),
        ("look_back_period_s", scaling.look_back_period),
    ):
        if value is not None:
            config[key] = value
    options["autoscaling_config"] = config
    return options


def describe(settings: DeploySettings) -> str:
    """How a node scales, for the lines `serve --ray` prints: "2 replicas", "autoscaling 1–4"."""
    if settings.autoscaling is not None:
        return f"autoscaling {settings.autoscaling.min}-{settings.autoscaling.max}"
    count = settings.replicas or 1
    return f"{count} replica{'s' if count != 1 else ''}"
