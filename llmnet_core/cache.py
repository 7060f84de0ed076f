"""Where llmnet keeps files it derives (an assembled model, int8 copies, embedding caches)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$LLMNET_CACHE_DIR`, else `$XDG_CACHE_HOME/llmnet`, else `~/.cache/llmnet`; not created here."""
    explicit = os.environ.get("LLMNET_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "llmnet"
