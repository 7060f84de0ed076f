"""A client that goes away cancels its request's run: through the protocol's signals when the scope has
them (no task parked on `receive`), through a task waiting for `http.disconnect` when it has none.
(`test_limits.py` checks the whole path on a real server: the backend call is cancelled.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llmnet_serve.signals import EXTENSION, DisconnectWatch, RequestSignals


async def never_called() -> dict[str, Any]:
    raise AssertionError("with signals, nothing waits on receive()")


def scope_with(signal: RequestSignals) -> dict[str, Any]:
    return {"type": "http", "extensions": {EXTENSION: signal}}


async def test_the_signal_cancels_the_run():
    signal = RequestSignals()
    run = asyncio.create_task(asyncio.sleep(30))
    watch = DisconnectWatch(scope_with(signal), never_called, run)
    await asyncio.sleep(0)
    assert not run.done()
    signal.fire_gone()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert watch.disconnected


async def test_a_signal_fired_before_the_watch_began_cancels_at_once():
    signal = RequestSignals()
    signal.fire_gone()
    run = asyncio.create_task(asyncio.sleep(30))
    watch = DisconnectWatch(scope_with(signal), never_called, run)
    with pytest.raises(asyncio.CancelledError):
        await run
    assert watch.disconnected


async def test_once_stopped_a_disconnect_cancels_nothing():
    signal = RequestSignals()
    run = asyncio.create_task(asyncio.sleep(0.05))
    watch = DisconnectWatch(scope_with(signal), never_called, run)
    watch.stop()
    signal.fire_gone()
    await run
    assert not watch.disconnected and not run.cancelled()


async def test_without_a_signal_a_task_waits_for_the_disconnect():
    gone = asyncio.Event()
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    run = asyncio.create_task(asyncio.sleep(30))
    watch = DisconnectWatch({"type": "http"}, receive, run)
    await asyncio.sleep(0.01)
    assert not run.done()
    gone.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert watch.disconnected


async def test_the_read_deadline_is_set_only_for_a_body_still_on_its_way():
    from llmnet_serve.chat import read_body
    from llmnet_serve.wire import RequestError

    async def receive() -> dict[str, Any]:  # the event loop turns once before the body is handed over
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b'{"x": 1}', "more_body": False}

    with pytest.raises(RequestError) as refused:
        await read_body(receive, "8", 1024, 0.01)
    assert refused.value.status == 408
    # the protocol said it has all arrived: no deadline is set (it would have passed here too)
    assert await read_body(receive, "8", 1024, 0.01, arrived=True) == b'{"x": 1}'
