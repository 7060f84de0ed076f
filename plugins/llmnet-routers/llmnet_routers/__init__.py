"""llmnet plugin: the `semantic` and `constrained` routing strategies.

Both work with models far too small to follow a "name the handler" instruction: `semantic` compares
embeddings of the request with each handler's `use-case` and `examples`; `constrained` lets the model
score only the handler names, so its answer is always valid.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_routers(register: Any) -> None:
    """Register `semantic` and `constrained` (trylast, so another plugin may replace either)."""
    from .constrained import ConstrainedRouter
    from .semantic import SemanticRouter

    register("semantic", SemanticRouter)
    register("constrained", ConstrainedRouter)
