"""llmnet plugin: the `ollama` backend, for models served by Ollama's native API (`/api/chat`).

Kept light on purpose: aiohttp and pydantic are imported only when a model entry is used, so
`llmnet --help` stays fast. Its tests use the fake Ollama server of `llmnet-testing`.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_backends(register: Any) -> None:
    """Register `ollama` (trylast, so a third-party plugin may provide its own)."""
    from .backend import OllamaBackend

    register("ollama", OllamaBackend)
