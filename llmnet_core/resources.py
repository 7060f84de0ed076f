"""Per-pipeline shared resources: pooled clients and connections that plugins create once and reuse."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

Closer = Callable[[], Any]


class Resources:
    """A keyed store of long-lived objects (HTTP clients, channels, sockets) owned by one pipeline.

    Plugins call `get(key, factory, close=...)` so that every node using the same server shares one
    pooled client; `aclose()` closes them all when the pipeline ends.
    """

    def __init__(self) -> None:
        self._items: dict[Hashable, Any] = {}
        self._closers: list[Closer] = []
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def get(self, key: Hashable, factory: Callable[[], T], *, close: Callable[[T], Any] | None = None) -> T:
        """Return the object stored under `key`, creating it with `factory()` the first time."""
        try:
            return self._items[key]
        except KeyError:
            pass
        value = factory()
        self._items[key] = value
        if close is not None:
            self._closers.append(lambda: close(value))
        return value

    async def aget(
        self,
        key: Hashable,
        factory: Callable[[], Awaitable[T]],
        *,
        close: Callable[[T], Any] | None = None,
    ) -> T:
        """Like `get` with an async factory; concurrent first calls create the object only once."""
        if key in self._items:
            return self._items[key]
        import asyncio

        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._items:
                value = await factory()
                self._items[key] = value
                if close is not None:
                    self._closers.append(lambda: close(value))
        return self._items[key]

    def discard(self, key: Hashable) -> None:
        """Forget `key` (for a broken connection) so that the next `get` creates a fresh object."""
        self._items.pop(key, None)

    async def aclose(self) -> None:
        """Close everything, newest first; a failing closer does not stop the others."""
        closers, self._closers = self._closers[::-1], []
        self._items.clear()
        for closer in closers:
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - closing must go on
                pass
