"""The `ray` deployer: checks `deploy` sections, and offers `llmnet serve --ray [--ray-address ADDRESS]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import click

from llmnet_core import Deployer, Problem


class RayDeployer(Deployer):
    """Ray Serve: each node its own deployment (a local Ray is started when no --ray-address is given)."""

    description: ClassVar[str] = "Ray Serve, each node its own deployment (plugin llmnet-ray)"

    @classmethod
    def check(cls, section: Mapping[str, Any], path: str) -> list[Problem]:
        from .settings import check

        return check(section, path)

    @classmethod
    def cli_options(cls) -> list[click.Option]:
        """`--ray-address`: the Ray cluster to deploy to."""
        return [
            click.Option(
                ["--ray-address"],
                metavar="ADDRESS",
                help="Ray cluster to deploy to (host:port of its head, or auto); "
                "default: start a local Ray, stopped with the server.",
            )
        ]

    @classmethod
    def serve(cls, settings: Any, ray_address: str | None = None) -> None:
        """Deploy the pipeline of `settings` (llmnet serve's) and serve it until SIGINT/SIGTERM."""
        from .launch import serve_on_ray

        serve_on_ray(settings, ray_address)
