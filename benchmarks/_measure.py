"""What the benchmark scripts share: a peer in its own process, an in-process echo backend, timing in
interleaved rounds, percentiles and the latency table.

The scripts import it as a sibling module (`from _measure import ...`, after putting this folder on
`sys.path`), so `.venv/bin/python benchmarks/<script>.py` works from any directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
M = TypeVar("M")
CallFn = Callable[[], Awaitable[Any]]

# -- a peer in its own process ---------------------------------------------------------------------------


Serving = Callable[[], contextlib.AbstractAsyncContextManager[Any]]


@contextlib.contextmanager
def spawned_peer(serving: Serving, name: str, timeout: float = 30, *, uvloop: bool = False) -> Iterator[Any]:
    """Run a peer in a spawned process, so that it shares neither the event loop nor the GIL with the
    measured client, and yield what it serves on (its port or ports).

    `serving` is a module-level async context manager factory: entering it starts the servers and gives
    what to yield here; the peer leaves it when this context ends (or the parent dies). With `uvloop`,
    the peer runs on uvloop when it is installed (a peer that must outpace an HTTP server)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_run_peer, args=(child, serving, uvloop), daemon=True, name=name)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"{name} did not start within {timeout:g} s")
        yield parent.recv()
    finally:
        parent.close()
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


def _run_peer(conn: Connection, serving: Serving, fast_loop: bool) -> None:
    """The peer process: serve, send what `serving` gave, and stop when the parent closes its end."""

    async def main() -> None:
        async with serving() as address:
            conn.send(address)
            done = asyncio.Event()
            asyncio.get_running_loop().add_reader(conn.fileno(), done.set)  # readable = EOF: parent gone
            await done.wait()

    run: Any = asyncio.run
    if fast_loop:
        with contextlib.suppress(ImportError):
            import uvloop

            run = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        run(main())


# -- an in-process model -----------------------------------------------------------------------------------


def echo_backend_plugin(name: str = "bench-echo") -> Any:
    """A plugin registering backend `name`, which answers the last message as it is, without any I/O, so
    that a pipeline around a hook costs no network time of its own."""
    from llmnet_core import Backend, ChatRequest, ChatResponse, hookimpl

    class EchoBackend(Backend):
        async def complete(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse(text=request.messages[-1].content)

    class Plugin:
        @hookimpl
        def llmnet_register_backends(self, register: Any) -> None:
            register(name, EchoBackend)

    return Plugin()


# -- timing and statistics -----------------------------------------------------------------------------------


async def timed_calls(call: CallFn, count: int, deadline: float) -> list[float]:
    """Seconds taken by each of `count` sequential calls; stops early at `deadline` (a perf_counter value)."""
    clock, latencies = time.perf_counter, []
    for _ in range(count):
        if clock() > deadline:
            break
        started = clock()
        await call()
        latencies.append(clock() - started)
    return latencies


async def in_rounds(
    modes: Mapping[str, M], rounds: int, run: Callable[[M], Awaitable[T]]
) -> dict[str, list[T]]:
    """`await run(mode)` for every mode in each of `rounds` rounds, the order reversed every other round
    and garbage collected before each, so that machine noise and collector pauses hit every mode alike."""
    names = list(modes)
    results: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            gc.collect()
            results[name].append(await run(modes[name]))
    return results


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def latency_table(samples: dict[str, list[float]], width: int = 15) -> dict[str, tuple[float, float]]:
    """Print n, median and p90 in ms per mode (latencies given in seconds); return {mode: (median, p90)}
    in ms, for modes that have samples."""
    figures = {
        name: (statistics.median(v) * 1000, percentile(v, 90) * 1000) for name, v in samples.items() if v
    }
    header = f"{'mode':<{width}} {'n':>6} {'median ms':>10} {'p90 ms':>9}"
    print(header)
    print("-" * len(header))
    for name, (median, high) in figures.items():
        print(f"{name:<{width}} {len(samples[name]):>6} {median:>10.3f} {high:>9.3f}")
    return figures


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def existing_file(text: str) -> Path:
    """An argparse type: the path of a file that exists."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file")
    return path
