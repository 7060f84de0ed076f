"""The ingress deployment: llmnet serve's own ASGI app (the OpenAI-compatible API, auth, errors, streaming,
/health, /status, /metrics) behind Ray Serve's HTTP proxy. Its engine routes and runs hooks as in-process;
each node's model calls go to the node's deployment through its handle. `/status` gains a `ray` part:
the replicas of each node and the Ray nodes they run on."""

from __future__ import annotations

import asyncio
from typing import Any

from llmnet_core import Pipeline, get_host

from .backend import forwarder
from .placement import status


class Ingress:
    """Builds llmnet serve's app in each ingress replica (`serve.ingress()` calls the method below)."""

    def __init__(self, settings: dict[str, Any], handles: dict[str, Any], deployments: dict[str, str]):
        self.settings = settings
        self.handles = handles
        self.deployments = deployments

    def __serve_build_asgi_app__(self) -> Any:
        from llmnet_serve.app import configure_logging, create_app, load_pipeline
        from llmnet_serve.settings import make_settings

        settings = make_settings(**self.settings)
        configure_logging(settings.log_level)
        composition = load_pipeline(settings).composition
        pipeline = Pipeline(composition, host=get_host(), backends=forwarder(self.handles))
        app = create_app(settings, pipeline)
        app.state.status_sections["ray"] = self._status
        return app

    async def _status(self) -> dict[str, Any]:
        from ray import serve

        here = serve.get_replica_context()
        return await asyncio.to_thread(status, here.app_name, self.deployments, here.deployment)
