"""llmnet plugin: the `openai-api` backend, for any server speaking OpenAI's chat completions API.

Kept light on purpose: aiohttp is imported only when a request is actually sent, so `llmnet --help`
stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_backends(register: Any) -> None:
    """Register `openai-api` (trylast, so a third-party plugin may provide its own)."""
    from .backend import OpenAIBackend

    register("openai-api", OpenAIBackend)
