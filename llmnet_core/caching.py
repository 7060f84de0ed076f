"""The response caches of one pipeline: which cache a node's model calls go through (`settings.cache`
and the node's own `cache`), the stores behind them, and reading and writing answers so that a cache
that fails never fails a request (it counts as a miss, and the log says why)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .composition import NodeConfig
from .composition.schema import CacheConfig
from .composition.specs import cache_spec
from .errors import PipelineError, UsageError
from .interpolate import ENV_REFERENCE_RE, resolve_secrets
from .redact import Redactor
from .registry import Registry
from .resources import Resources
from .response_cache import MEMORY, CacheSpec, MemoryCache, ResponseCache
from .types import ChatResponse

log = logging.getLogger("llmnet.cache")

#: seconds a cache may take to answer before the call goes to the model instead
CACHE_TIMEOUT = 2.0
#: answers longer than this many characters are not kept
MAX_ANSWER_CHARS = 1_000_000

Secrets = Mapping[str, Mapping[str, str]]


class Caches:
    """The caches of one pipeline. `spec(node)` says which cache a node's calls go through (None: none);
    `get` and `put` read and write answers there. One store is made per backend, address and size, and
    shared by the nodes that name the same; it is closed with the pipeline's resources."""

    def __init__(
        self,
        pipeline: CacheConfig | None,
        registry: Registry[type[ResponseCache]],
        resources: Resources,
        redactor: Redactor,
        secrets: Callable[[], Secrets],
    ) -> None:
        self._pipeline = pipeline
        self._registry = registry
        self._resources = resources
        self._redactor = redactor
        self._secrets = secrets
        self._specs: dict[str, CacheSpec | None] = {}
        self._failing: set[tuple[str, str | None]] = set()

    def spec(self, node: NodeConfig) -> CacheSpec | None:
        """The cache of `node`'s model calls, with its url's `$ENV_VAR` or `$secrets` filled in."""
        if node.name not in self._specs:
            spec = cache_spec(self._pipeline, node.cache, f'node "{node.name}" cache')
            self._specs[node.name] = spec if spec is None else self._resolved(spec)
        return self._specs[node.name]

    def _resolved(self, spec: CacheSpec) -> CacheSpec:
        url = spec.url
        if url is None:
            return spec
        match = ENV_REFERENCE_RE.match(url)
        if match:
            url = os.environ.get(match.group(1))
            if url is None:
                raise UsageError(
                    f"{spec.place}.url: environment variable {match.group(1)} is not set",
                    hint=f"export {match.group(1)}=... before running",
                )
        url = resolve_secrets(url, self._secrets())
        password = urlsplit(url).password
        if password:
            self._redactor.add([password])
        return replace(spec, url=url)

    def _store(self, spec: CacheSpec) -> ResponseCache:
        cls = self._registry.get(spec.backend) or (MemoryCache if spec.backend == MEMORY else None)
        if cls is None:
            raise PipelineError(
                f'{spec.place}: no installed plugin provides the cache backend "{spec.backend}"',
                hint="run `llmnet plugins` to see what is installed",
            )
        key = ("llmnet-cache", spec.backend, spec.url, spec.max_entries)
        return self._resources.get(key, lambda: cls(spec, self._resources), close=lambda c: c.aclose())

    async def get(self, spec: CacheSpec, key: str) -> tuple[ChatResponse | None, str]:
        """The answer kept under `key` and "hit", or None and "miss" (or "error": the cache failed)."""
        try:
            async with asyncio.timeout(CACHE_TIMEOUT):
                value = await self._store(spec).get(key)
            answer = None if value is None else _decode(value)
        except PipelineError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing cache is a miss, never a failed request
            self._failed(spec, "read", exc)
            return None, "error"
        self._failing.discard((spec.backend, spec.url))
        return (answer, "hit") if answer is not None else (None, "miss")

    async def put(self, spec: CacheSpec, key: str, response: ChatResponse) -> None:
        """Keep `response` under `key` for the cache's ttl (answers past MAX_ANSWER_CHARS are not kept)."""
        if len(response.text) > MAX_ANSWER_CHARS:
            return
        value = json.dumps(
            {"text": response.text, "finish_reason": response.finish_reason, "model": response.model},
            ensure_ascii=False,
        )
        try:
            async with asyncio.timeout(CACHE_TIMEOUT):
                await self._store(spec).set(key, value, spec.ttl)
        except PipelineError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing cache is a miss, never a failed request
            self._failed(spec, "write", exc)

    def _failed(self, spec: CacheSpec, action: str, exc: BaseException) -> None:
        """Log a cache failure: a warning the first time in a row for a store, then at debug level."""
        reason = self._redactor(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        store = (spec.backend, spec.url)
        level = logging.DEBUG if store in self._failing else logging.WARNING
        self._failing.add(store)
        log.log(
            level,
            "%s: could not %s the %s cache, the model answers (%s)",
            spec.place,
            action,
            spec.backend,
            reason,
        )


def _decode(value: str) -> ChatResponse | None:
    """A kept answer; None for a value this version cannot read (treated as a miss)."""
    try:
        data: Any = json.loads(value)
    except ValueError:
        return None
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return None
    finish, model = data.get("finish_reason"), data.get("model")
    return ChatResponse(
        text=text,
        finish_reason=finish if isinstance(finish, str) else None,
        model=model if isinstance(model, str) else None,
    )
