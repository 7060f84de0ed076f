"""Answers kept for model calls seen before: `ResponseCache`, the interface cache backends implement
(get and set with a time to live), `MemoryCache`, the in-process one, and the key of a model call (a
SHA-256 of everything that decides its answer, so that no secret or message is stored in clear)."""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar

from .errors import Problem
from .resources import Resources
from .types import ChatRequest, ModelSpec

__all__ = ["MEMORY", "CacheSpec", "MemoryCache", "ResponseCache", "cache_key", "samples"]

#: the name of the in-process backend, built into the core (a plugin may register its own under it)
MEMORY = "memory"
#: fields of `ChatRequest` that say who asked, not what: left out of the key so that the same question
#: from two nodes or two requests finds the same answer
_WHO_ASKED = frozenset({"node", "request_id"})


@dataclass(frozen=True)
class CacheSpec:
    """A response cache as the composition sets it up: the backend's name and address (secrets filled
    in), seconds an answer is kept, how many answers the in-process backend keeps, whether answers asked
    with a temperature above 0 are kept too, and `place`, the JSON path that set it up (for messages)."""

    backend: str = MEMORY
    url: str | None = None
    ttl: float = 600.0
    max_entries: int = 1000
    temperature: bool = False
    place: str = "settings.cache"


class ResponseCache(ABC):
    """Keeps answers by key for a while; one instance per backend and address in a pipeline.

    Keys are hex digests; values are the answers as JSON text. Raise on failure (a server that cannot be
    reached): the engine then answers from the model as if the cache were empty, and logs why.
    """

    #: a one-line description of the backend (defaults to the first line of the docstring)
    description: ClassVar[str] = ""

    def __init__(self, spec: CacheSpec, resources: Resources) -> None:
        self.spec = spec
        self.resources = resources

    @classmethod
    def check(cls, spec: CacheSpec) -> list[Problem]:
        """The problems of the cache's settings, found without contacting anything (`llmnet validate`);
        paths are the cache's own keys (`url`), which the validator places under `spec.place`."""
        return []

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None when there is none or it expired."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds."""

    async def aclose(self) -> None:
        """Release what this cache holds (connections)."""


class MemoryCache(ResponseCache):
    """In this process: at most `max-entries` answers, the least recently used dropped first, each kept
    for `ttl` seconds. Gone when the process ends; not shared between processes."""

    description: ClassVar[str] = "answers kept in this process (least recently used dropped first)"

    def __init__(self, spec: CacheSpec, resources: Resources, clock: Callable[[], float] = time.monotonic):
        super().__init__(spec, resources)
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self.clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._entries[key] = (self.clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.spec.max_entries:
            self._entries.popitem(last=False)


def cache_key(request: ChatRequest, spec: ModelSpec) -> str | None:
    """The key of a model call: a SHA-256 of the model (backend, address, wire name, the entry's
    parameters and options) and of every field of `request` except who asked (`node`, `request_id`), so
    fields added to `ChatRequest` later count without a change here. None when a value has no JSON form
    (such a call is not cached)."""
    asked = {f.name: getattr(request, f.name) for f in fields(request) if f.name not in _WHO_ASKED}
    document = {
        "backend": spec.backend,
        "url": spec.url,
        "wire-model": spec.wire_model,
        "parameters": spec.parameters,
        "options": spec.options,
        "request": asked,
    }
    try:
        text = json.dumps(_plain(document), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses and mappings as objects, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def samples(request: ChatRequest, spec: ModelSpec) -> bool:
    """Whether a call asks for a sampled answer: a temperature above 0 in the call's parameters, else in
    the model entry's. A call that sets no temperature counts as not sampling: whoever turned the cache
    on for it asked for repeatable answers (set `"temperature": 0` to say so to the server as well)."""
    value = request.parameters.get("temperature", spec.parameters.get("temperature"))
    if value is None:
        return False
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return True
