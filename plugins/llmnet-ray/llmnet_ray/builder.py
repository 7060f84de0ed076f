"""The application builder for Ray Serve configs (`serve run`, `serve deploy`, KubeRay's RayService):
`import_path: llmnet_ray.builder:app` with `args` holding llmnet serve's options by their long names
builds the same application as `llmnet serve COMPOSITION --ray` deploys."""

from __future__ import annotations

import os
from typing import Any

from llmnet_core import UsageError

#: serve options that mean nothing inside a Ray Serve config (the config's http_options say where to listen)
NOT_HERE = frozenset({"host", "port", "workers", "read_timeout", "max_body"})


def app(args: dict[str, Any]) -> Any:
    """The Serve application of `args["composition"]` with the other serve options in `args`
    (`api-key` defaults to $LLMNET_API_KEY, as for `llmnet serve`); a bad option is a UsageError."""
    from llmnet_serve.app import load_pipeline
    from llmnet_serve.settings import make_settings
    from llmnet_serve.state import model_id

    from .graph import application, plan

    values = {str(key).replace("-", "_"): value for key, value in (args or {}).items()}
    ignored = sorted(set(values) & NOT_HERE)
    if ignored:
        named = ", ".join("--" + key.replace("_", "-") for key in ignored)
        raise UsageError(f"{named}: not an option of a Ray Serve config", hint="set http_options instead")
    if values.get("api_key") is None and os.environ.get("LLMNET_API_KEY"):
        values["api_key"] = os.environ["LLMNET_API_KEY"]
    settings = make_settings(**values)
    pipeline = load_pipeline(settings)
    return application(plan(pipeline.composition, model_id(settings, pipeline)), settings)
