"""What the `rest` and `shell` hook transports add over calling the same peer directly.

rest: one transform hook's HTTP call to a local peer, measured four ways in the same run, interleaved
call by call (the order rotating) so that machine noise hits all of them alike:

* direct: `await client.post(url, json=body)` and `response.json()` on one pooled `httpx.AsyncClient`;
* transport: `await RestTransport.call(call)` (the class registered as `rest`), with the body template
  `{"text": "$INPUT", "node": "$NODE"}`, which it substitutes and sends on its own pooled client;
* pipeline: `await pipeline.run(prompt)` of a one-node pipeline whose model is an in-process echo
  backend (no network), without hooks;
* pipeline+hook: the same pipeline with one pre-hook in transform mode calling the peer through `rest`.

The peer is a minimal HTTP/1.1 keep-alive server written here with raw asyncio (Content-Length framing,
one canned JSON reply); it runs in a separate process so that it shares neither the event loop nor the
GIL with the client being measured. Printed: median and p90 latency per call in ms for each mode, the
transport's added latency (transport - direct), and the whole hook's added latency as the engine runs
it ((pipeline+hook - pipeline) - direct), as differences and ratios. Target: at most 1 ms added.

shell: the cost of one hook call through `ShellTransport.call` (a program that copies stdin to stdout:
`cat`, or this interpreter when there is no `cat`), versus `asyncio.create_subprocess_exec` of the same
program with the same stdin, directly. Printed: median and p90 ms per call, and the difference.

Nothing is asserted; the exit status is 0. Only 127.0.0.1 is used. Needs llmnet with the llmnet-rest
and llmnet-shell plugins installed (httpx comes with llmnet-rest).

    .venv/bin/python benchmarks/transports_rest_shell.py            # ~20-40 s on 2 busy cores
    .venv/bin/python benchmarks/transports_rest_shell.py --quick    # a smoke run (~5 s)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling _measure, from any directory
from _measure import CallFn, echo_backend_plugin, latency_table, spawned_peer

TARGET_ADDED_MS = 1.0
PROMPT = "Please summarise the attached report in two sentences."
REPLY_BODY = json.dumps({"text": "rewritten by the peer", "checked": True}).encode()

# -- the HTTP peer (runs in its own process) ---------------------------------------------------------


def _response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class _PeerProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: frames each request by its Content-Length and answers one canned reply."""

    REPLY = _response(REPLY_BODY)

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        assert self.transport is not None
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.transport.write(self.REPLY)


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[int]:
    """The peer (in its own process): serve on an OS-chosen port of 127.0.0.1 and give the port."""
    server = await asyncio.get_running_loop().create_server(_PeerProtocol, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


# -- measuring -----------------------------------------------------------------------------------------


async def interleaved(modes: dict[str, CallFn], count: int, budget: float) -> dict[str, list[float]]:
    """Latencies in seconds of `count` calls per mode, taken call by call in turn (the order rotates each
    time), so that the machine's noise hits every mode alike. Stops early when `budget` seconds are spent."""
    names = list(modes)
    for _ in range(max(20, count // 10)):  # warm-up: open pooled connections, fill caches
        for name in names:
            await modes[name]()
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + budget
    for i in range(count):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            await modes[name]()
            samples[name].append(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    return samples


# -- rest ----------------------------------------------------------------------------------------------


def composition(url: str, hooked: bool) -> dict[str, Any]:
    pre = [{"function": "tag", "mode": "transform", "on_failure": "abort"}] if hooked else []
    return {
        "models": {"echo": {"backend": "bench-echo"}},
        "functions": {"tag": {"type": "rest", "url": url, "body": {"text": "$INPUT", "node": "$NODE"}}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "echo", "output-to": ["output"], "hooks": {"pre": pre}},
            {"name": "output", "adapter": "output"},
        ],
    }


async def bench_rest(port: int, count: int, budget: float) -> None:
    import httpx

    from llmnet_core import FunctionSpec, HookCall, Pipeline, Resources
    from llmnet_core.plugins import get_host

    url = f"http://127.0.0.1:{port}/hook"
    host = get_host()
    host.register(echo_backend_plugin(), "bench-echo")
    rest = host.registries.transports.get("rest")
    if rest is None:
        raise SystemExit("the rest transport is not installed: pip install -e plugins/llmnet-rest")
    resources = Resources()
    spec = FunctionSpec("tag", "rest", {"url": url, "body": {"text": "$INPUT", "node": "$NODE"}}, 30.0)
    transport = rest(spec, resources)
    call = HookCall("tag", "pre", "transform", "chat", PROMPT, {"INPUT": PROMPT, "NODE": "chat"}, 30.0)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)

    async with (
        httpx.AsyncClient(limits=limits) as client,
        Pipeline.from_dict(composition(url, hooked=False)) as plain,
        Pipeline.from_dict(composition(url, hooked=True)) as hooked,
    ):

        async def direct() -> Any:
            response = await client.post(url, json={"text": PROMPT, "node": "chat"})
            response.raise_for_status()
            return response.json()

        modes: dict[str, CallFn] = {
            "direct": direct,
            "transport": lambda: transport.call(call),
            "pipeline": lambda: plain.run(PROMPT),
            "pipeline+hook": lambda: hooked.run(PROMPT),
        }
        expected = json.loads(REPLY_BODY)
        if await direct() != expected or await transport.call(call) != expected:
            raise RuntimeError("the peer's reply did not come back as expected")
        if json.loads((await hooked.run(PROMPT)).output) != expected:
            raise RuntimeError("the hook did not transform the pipeline's input")
        samples = await interleaved(modes, count, budget)
    await resources.aclose()

    print(f"\n== rest: one transform hook; up to {count} calls per mode, taken in turn ==")
    f = latency_table(samples)
    direct_median, direct_p90 = f["direct"]
    added = {
        "transport alone": (f["transport"][0] - direct_median, f["transport"][1] - direct_p90),
        "hook in the engine": (
            f["pipeline+hook"][0] - f["pipeline"][0] - direct_median,
            f["pipeline+hook"][1] - f["pipeline"][1] - direct_p90,
        ),
    }
    print(f"\nadded over a direct httpx call (target ≤ {TARGET_ADDED_MS:g} ms at the median):")
    for label, (median, high) in added.items():
        verdict = "ok" if median <= TARGET_ADDED_MS else "OVER TARGET"
        ratio = (direct_median + median) / direct_median
        print(f"  {label:<19} {median:+.3f} ms median, {high:+.3f} ms p90, ratio {ratio:.2f}  {verdict}")


# -- shell ---------------------------------------------------------------------------------------------


async def bench_shell(count: int, budget: float) -> None:
    from llmnet_core import FunctionSpec, HookCall, Resources
    from llmnet_core.plugins import get_host

    shell = get_host().registries.transports.get("shell")
    if shell is None:
        raise SystemExit("the shell transport is not installed: pip install -e plugins/llmnet-shell")
    cat = shutil.which("cat")
    argv = [cat] if cat else [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"]
    transport = shell(
        FunctionSpec("copy", "shell", {"command": argv[0], "args": argv[1:]}, 30.0), Resources()
    )
    call = HookCall("copy", "pre", "transform", "chat", PROMPT, {"INPUT": PROMPT, "NODE": "chat"}, 30.0)
    payload = (json.dumps({"function": "copy", "data": PROMPT}) + "\n").encode()

    async def direct() -> bytes:
        pipe = asyncio.subprocess.PIPE
        process = await asyncio.create_subprocess_exec(*argv, stdin=pipe, stdout=pipe, stderr=pipe)
        out, _ = await process.communicate(payload)
        return out

    modes: dict[str, CallFn] = {"direct": direct, "transport": lambda: transport.call(call)}
    if (await transport.call(call))["data"] != PROMPT:
        raise RuntimeError("the program did not echo the hook's data")
    samples = await interleaved(modes, count, budget)
    print(f"\n== shell: one call running {argv[0]}; up to {count} calls per mode, taken in turn ==")
    f = latency_table(samples)
    (median, high), (direct_median, direct_p90) = f["transport"], f["direct"]
    print(
        f"\nthe transport adds {median - direct_median:+.3f} ms median, {high - direct_p90:+.3f} ms p90 "
        f"per call over create_subprocess_exec + communicate (ratio {median / direct_median:.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rest-calls", type=int, help="calls per rest mode [default 2000; --quick 300]")
    parser.add_argument("--shell-calls", type=int, help="calls per shell mode [default 300; --quick 60]")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds per benchmark [default 20; --quick 4]"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    rest_calls = args.rest_calls or (300 if args.quick else 2000)
    shell_calls = args.shell_calls or (60 if args.quick else 300)
    budget = args.budget if args.budget is not None else (4.0 if args.quick else 20.0)
    if min(rest_calls, shell_calls) < 1 or budget <= 0:
        parser.error("--rest-calls, --shell-calls and --budget must be positive")
    print(
        f"python {sys.version.split()[0]}; budget {budget:g} s per benchmark "
        "(calls not started in time are skipped; the n column says how many ran)"
    )
    started = time.perf_counter()
    with spawned_peer(_serving, "the HTTP peer") as port:
        asyncio.run(bench_rest(port, rest_calls, budget))
    asyncio.run(bench_shell(shell_calls, budget))
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
