"""Embeddings of configuration texts (handler use-cases and examples) kept on disk between runs.

A semantic router embeds every handler description when a process first routes: about 0.7 s on two
cores for the default pipeline, most of `llmnet run`'s start-up. The vectors depend only on the model
file and the text, so they are stored per model file (keyed by its size and mtime) under llmnet's cache
folder. Only texts the caller marks `persist` are stored: never a user's request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path

from llmnet_core import cache_dir

#: the most vectors kept per model file; the oldest go first
LIMIT = 4096


class VectorStore:
    """Vectors by text for one model file, loaded on first use and written back atomically."""

    def __init__(self, model_path: str) -> None:
        info = Path(model_path).stat()
        # what the vectors depend on: the file, and how the embedding context pools (see models.py)
        identity = f"{Path(model_path).resolve()}:{info.st_size}:{info.st_mtime_ns}:mean-pooling"
        name = hashlib.sha256(identity.encode()).hexdigest()[:24]
        self.path = cache_dir() / "embeddings" / f"{name}.json"
        self._vectors: dict[str, list[float]] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _load(self) -> dict[str, list[float]]:
        if self._vectors is None:
            self._vectors = {}
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self._vectors = {k: v for k, v in data.items() if isinstance(v, list)}
        return self._vectors

    def get(self, text: str) -> list[float] | None:
        with self._lock:
            return self._load().get(self.key(text))

    def put(self, items: dict[str, list[float]]) -> None:
        """Remember vectors by text and save; a cache that cannot be written is simply not kept."""
        with self._lock:
            vectors = self._load()
            for text, vector in items.items():
                vectors.pop(self.key(text), None)
                vectors[self.key(text)] = vector
            while len(vectors) > LIMIT:
                vectors.pop(next(iter(vectors)))
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps(vectors), encoding="utf-8")
                os.replace(partial, self.path)
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
