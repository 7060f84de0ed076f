"""What llmnet's HTTP protocol (`protocol.py`) tells a request's handler beyond ASGI, to save work on
every request: that the request's body has all arrived, and that its client went away.

A client that goes away cancels its request's pipeline run (and with it the backend call behind it). In
ASGI the only way to notice is a task parked on `receive()` until it reports `http.disconnect`: a task
per request, woken and cancelled, ~4 % of a request's CPU time. The protocol puts `RequestSignals` in
each request's scope instead and fires them when the connection closes before the response is complete;
`DisconnectWatch` uses them when the scope has them, and the parked task otherwise (another server; a
pipelined request, whose connection is not read while it waits). Likewise, a body that has all arrived
is read without setting up the `--read-timeout` deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import Receive

#: the key of the `RequestSignals` in a request scope's `extensions`
EXTENSION = "llmnet.signals"


class RequestSignals:
    """Set in a request's scope by the protocol: `body_complete` once the whole body has arrived; `gone`
    (and a call of the `on_gone` callback listening then) once the connection closed before the response
    was complete."""

    __slots__ = ("body_complete", "gone", "on_gone")

    def __init__(self) -> None:
        self.body_complete = False
        self.gone = False
        self.on_gone: Callable[[], None] | None = None

    def fire_gone(self) -> None:
        if not self.gone:
            self.gone = True
            if self.on_gone is not None:
                self.on_gone()


def signals_of(scope: Mapping[str, Any]) -> RequestSignals | None:
    """The request's signals, None when the server gave none."""
    return (scope.get("extensions") or {}).get(EXTENSION)


class DisconnectWatch:
    """Cancels `task` if the client disconnects before `stop()` (once the request's body has been read:
    until then the reading itself notices)."""

    def __init__(self, scope: Mapping[str, Any], receive: Receive, task: asyncio.Task[Any]) -> None:
        self.disconnected = False
        self._task = task
        self._watcher: asyncio.Task[None] | None = None
        self._signals = signals_of(scope)
        if self._signals is None:
            self._watcher = asyncio.create_task(self._watch(receive))
        elif self._signals.gone:
            self._gone()
        else:
            self._signals.on_gone = self._gone

    def _gone(self) -> None:
        self.disconnected = True
        self._task.cancel()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._gone()

    def stop(self) -> None:
        """Stop watching (the response is about to start, or the run ended)."""
        if self._watcher is not None:
            self._watcher.cancel()
        elif self._signals is not None:
            self._signals.on_gone = None
