"""llmnet plugin: the routing strategies `llm` (the default: the node's model names a handler),
`semantic` and `constrained`.

The last two work with models far too small to follow a "name the handler" instruction: `semantic` compares
embeddings of the request with each handler's `use-case` and `examples`; `constrained` lets the model
score only the handler names, so its answer is always valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmnet_core import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from llmnet_core import Registrar

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_routers(register: Registrar) -> None:
    """Register `llm`, `semantic` and `constrained` (trylast, so another plugin may replace any)."""
    from .constrained import ConstrainedRouter
    from .llm import LLMRouter
    from .semantic import SemanticRouter

    register("llm", LLMRouter)
    register("semantic", SemanticRouter)
    register("constrained", ConstrainedRouter)
