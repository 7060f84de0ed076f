"""llmnet plugin: the `llama-cpp` backend, running GGUF models inside the llmnet process.

With no `source`, a model uses the bundled Gemma 3 270M, so pipelines run offline with nothing else
installed. llama_cpp is imported only when a model is first loaded.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_backends(register: Any) -> None:
    """Register `llama-cpp` (trylast, so another plugin may provide its own)."""
    from .backend import LlamaCppBackend

    register("llama-cpp", LlamaCppBackend)
