"""What every request handler shares: the pipeline, the settings, the counters and the API key check."""

from __future__ import annotations

import hmac
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from llmnet_core import LLMNetError, Pipeline

from .settings import ServeSettings
from .stats import Stats
from .wire import RequestError

if TYPE_CHECKING:
    from .metrics import ServeMetrics


class ServeState:
    """What every request handler needs: the pipeline, the settings and the counters."""

    def __init__(self, settings: ServeSettings, pipeline: Pipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.model_id = model_id(settings, pipeline)
        self.stats = Stats(pipeline.composition.nodes)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self.api_key: bytes | None = key.encode() if key else None
        self.max_concurrent = settings.max_concurrent
        self.max_body = settings.max_body
        self.variables = dict(settings.variables)
        self.startup_error: LLMNetError | None = None
        #: the Prometheus metrics behind /metrics (None with --no-metrics), set by the app
        self.metrics: ServeMetrics | None = None
        #: called once the pipeline has started and the server is about to accept requests
        self.on_ready: Callable[[], None] | None = None
        #: request ids need to be unique, not secret: a generator seeded per process (each worker makes
        #: its own state) saves a system call per request over os.urandom
        self._ids = random.Random()
        #: more parts of `GET /status`, by key, each awaited per request (a deployer's replicas per node)
        self.status_sections: dict[str, Callable[[], Awaitable[Any]]] = {}

    def new_id(self) -> str:
        """A new request id: 32 hex digits."""
        return f"{self._ids.getrandbits(128):032x}"

    def check_auth(self, request: Request) -> None:
        """Raise 401 unless the request's `Authorization: Bearer` key matches (see `check_key`)."""
        self.check_key(request.headers.get("authorization", ""))

    def check_key(self, header: str) -> None:
        """Raise 401 unless the `Authorization` header `header` is `Bearer <the key>` (compared in
        constant time); nothing to check without --api-key."""
        if self.api_key is None:
            return
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise RequestError(401, "missing API key: send `Authorization: Bearer <key>`")
        if not hmac.compare_digest(given.strip().encode(), self.api_key):
            raise RequestError(401, "invalid API key")


#: the scope key of the `ServeState`, set for each request (cheaper to read than the app's `state`)
STATE = "llmnet.serve"


def serve_state(request: Request) -> ServeState:
    """The state of the app that received `request` (the app puts it in every HTTP request's scope)."""
    return request.scope[STATE]


def model_id(settings: ServeSettings, pipeline: Pipeline) -> str:
    """The pipeline's name as a model: `--model-id`, else the composition's `name`, else the file stem."""
    if settings.model_id:
        return settings.model_id
    name = getattr(pipeline.composition.file, "name", None) or pipeline.composition.raw.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    return Path(settings.composition).stem
