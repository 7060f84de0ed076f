"""Where llmnet keeps files: those it derives (an assembled model, int8 copies, embedding caches) in the
cache folder, those worth keeping (a request log) in the data folder."""

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


def data_dir() -> Path:
    """`$LLMNET_DATA_DIR`, else `$XDG_DATA_HOME/llmnet`, else `~/.local/share/llmnet`; not created here."""
    explicit = os.environ.get("LLMNET_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "llmnet"
