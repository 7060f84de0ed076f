"""Loaded GGUF models, shared by every node and pipeline of the process.

A llama.cpp context is not thread-safe, so each context gets one worker thread of its own: calls queue
on it in arrival order and the event loop never blocks. Generation and embeddings use separate contexts
(embeddings need a context made for them), loaded on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmnet_core import BackendError, activity

T = TypeVar("T")


@dataclass(frozen=True)
class LoadSettings:
    """What a context is created with; models loaded with the same settings are shared."""

    path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512
    n_gpu_layers: int = 0

    def threads(self) -> int:
        return self.n_threads or max(1, os.cpu_count() or 1)


class _Context:
    """One llama.cpp context and the single thread that may touch it."""

    def __init__(self, label: str, factory: Callable[[], Any]) -> None:
        self.label = label
        self._factory = factory
        self._llama: Any = None
        self._failed: BaseException | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{label}")

    def _ensure(self) -> Any:
        if self._llama is None:
            if self._failed is not None:
                raise self._failed
            try:
                with activity(f"loading {self.label}"):
                    self._llama = self._factory()
            except BackendError as exc:
                self._failed = exc
                raise
        return self._llama

    async def run(self, work: Callable[[Any], T]) -> T:
        """Run `work(llama)` on this context's thread, after every call queued before it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: work(self._ensure()))

    def submit(self, work: Callable[[Any], Any]) -> Any:
        """Start `work(llama)` on the thread without waiting (streaming reads its results as they come)."""
        return self.executor.submit(lambda: work(self._ensure()))


class LocalModel:
    """A GGUF file opened for generation and, when asked, for embeddings."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        name = Path(settings.path).name
        self.generation = _Context(f"model {name}", lambda: _load(settings, embedding=False))
        self.embedding = _Context(f"embeddings of {name}", lambda: _load(settings, embedding=True))

    def close(self) -> None:
        for context in (self.generation, self.embedding):
            context.executor.shutdown(wait=False, cancel_futures=True)


_models: dict[LoadSettings, LocalModel] = {}
_lock = threading.Lock()
_load_lock = threading.Lock()


def shared_model(settings: LoadSettings) -> LocalModel:
    """The process-wide model for these settings (loaded lazily, on its worker thread)."""
    with _lock:
        model = _models.get(settings)
        if model is None:
            model = _models[settings] = LocalModel(settings)
        return model


@atexit.register
def _close_all() -> None:
    with _lock:
        for model in _models.values():
            with contextlib.suppress(Exception):
                model.close()
        _models.clear()


def _load(settings: LoadSettings, *, embedding: bool) -> Any:
    """Create a llama.cpp context (imported here: llama_cpp is heavy)."""
    if not Path(settings.path).is_file():
        raise BackendError(
            f"model file {settings.path} does not exist",
            hint='set the model\'s "source" to a GGUF file, or leave it out to use the bundled model',
        )
    try:
        import llama_cpp
    except ImportError:
        raise BackendError("llama-cpp-python is not installed", hint="pip install llama-cpp-python") from None
    threads = settings.threads()
    kwargs: dict[str, Any] = {
        "model_path": settings.path,
        # the prompt's threads too: llama-cpp-python would give it every core, so `n_threads: 1` on two
        # replicas of a model ran four spinning threads on two cores
        "n_threads": threads,
        "n_threads_batch": threads,
        "n_gpu_layers": settings.n_gpu_layers,
        "verbose": False,
    }
    if embedding:
        kwargs.update(embedding=True, n_ctx=512, n_batch=512, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    else:
        kwargs.update(n_ctx=settings.n_ctx, n_batch=settings.n_batch)
    _route_native_logs(llama_cpp)
    _keep_python_streams()
    try:
        # llama-cpp-python silences a load by pointing fds 1 and 2 at /dev/null and back again: two loads
        # at once would leave them pointing there for good, so loads take turns
        with _load_lock:
            return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise BackendError(
            f"llama.cpp could not load {settings.path}: {exc}",
            hint="check that the file is a complete GGUF model and that n_ctx fits in memory",
        ) from None


class _PythonStreams:
    """What llama-cpp-python's silencer sees as `sys`: the real streams, and assignments to them ignored.

    While a model loads, llama-cpp-python points file descriptors 1 and 2 at /dev/null and also replaces
    `sys.stdout` and `sys.stderr`, process-wide, from the loading thread. An answer written meanwhile by
    another thread (the calculator answering while the chat model loads) went to /dev/null. llmnet
    writes through private copies of descriptors 1 and 2 (`own_standard_streams` in the core), which the
    descriptor-level silencing does not reach; keeping `sys.stdout` and `sys.stderr` in place keeps them.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in ("stdout", "stderr"):
            setattr(sys, name, value)


def _keep_python_streams() -> None:
    """Let llama-cpp-python silence native output by descriptor only (see `_PythonStreams`)."""
    try:
        from llama_cpp import _utils
    except ImportError:
        return
    silencer = getattr(_utils, "suppress_stdout_stderr", None)
    if silencer is not None and not isinstance(getattr(silencer, "sys", None), _PythonStreams):
        silencer.sys = _PythonStreams()


_native_log = logging.getLogger("llmnet.llama_cpp")
_log_callback: Any = None


def _route_native_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's own notes to the `llmnet.llama_cpp` logger instead of the user's terminal."""
    global _log_callback
    if _log_callback is not None:
        return

    def forward(level: int, text: bytes, _user_data: Any) -> None:
        with contextlib.suppress(Exception):
            _native_log.debug("%s", text.decode("utf-8", "replace").rstrip())

    _log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_log_callback, None)
