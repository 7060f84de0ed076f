"""llmnet plugin: the `sentence-encoder` backend, fast embeddings for the `semantic` router.

With no `source`, a model uses the bundled all-MiniLM-L6-v2, so it runs offline with nothing else
installed. onnxruntime, tokenizers and numpy are imported only when a model is first loaded.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_backends(register: Any) -> None:
    """Register `sentence-encoder` (trylast, so another plugin may provide its own)."""
    from .backend import SentenceEncoderBackend

    register("sentence-encoder", SentenceEncoderBackend)
