"""llmnet plugin: `llmnet serve COMPOSITION --ray`, the pipeline on Ray Serve with each node its own
deployment (placed and scaled as its `deploy` section says), the engine running in the ingress.

Only the deployer's class is imported when llmnet collects its plugins; Ray is imported when a pipeline
is actually served on it.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_deployers(register: Any) -> None:
    """Register the `ray` deployer (trylast, so that another plugin may provide its own)."""
    from .deployer import RayDeployer

    register("ray", RayDeployer)
