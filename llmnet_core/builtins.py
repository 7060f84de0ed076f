"""The core's own plugin: built-in routing strategies, registered `trylast` so plugins can override them."""

from __future__ import annotations

from typing import Any

from .plugins import hookimpl


@hookimpl(trylast=True)
def llmnet_register_routers(register: Any) -> None:
    from .routing import LLMRouter

    register("llm", LLMRouter)
