"""What `llmnet serve` costs against the floor of its own stack: latency, throughput, CPU, memory (wrk).

A fake OpenAI-compatible backend (raw asyncio, HTTP/1.1 keep-alive, one canned `chat.completion` reply)
runs in its own process. In front of it, each in its own process: a pass-through proxy on the stack
`llmnet serve` runs on (uvicorn + httptools + uvloop + one pooled aiohttp session, no routing, no
validation), and `llmnet serve` with a one-hop pipeline (a single entry node that answers itself, one
worker, metrics on, no response cache). wrk POSTs the same chat request, through a small Lua script, to
the backend directly, through the pass-through and through llmnet, at concurrency 1 and 64, in
interleaved rounds of the same run:

* requests/s, p50 and p99 latency, the server's CPU time per request and errors, per target and level;
* llmnet over the pass-through: requests/s at concurrency 64, the p50 latency added at concurrency 1
  (p50 through a server minus p50 direct), the CPU time per request;
* each server's resident memory after 100 and after 10,000 requests, and their ratio.

Targets (ratios of the same run): requests/s at concurrency 64 ≥ 0.8 × the pass-through's; added p50
latency at concurrency 1 ≤ 1.25 × the pass-through's; llmnet's memory after 10,000 requests ≤ 1.2 × after
100. Figures are printed; nothing is asserted. Runs in about 2.5 minutes; only 127.0.0.1 is used.

    .venv/bin/python benchmarks/serve.py                       # full run (7 rounds of 2 s)
    .venv/bin/python benchmarks/serve.py --rounds 1 --duration 1   # a quick look
    .venv/bin/python benchmarks/serve.py --profile /tmp/serve   # + where each server's time goes (py-spy)

Needs wrk (Debian/Ubuntu: `apt-get install -y wrk`; macOS: `brew install wrk`) and the llmnet-serve plugin
(`pip install -e plugins/llmnet-serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling _measure, from any directory
from _measure import positive, spawned_peer

REQUEST = {
    "model": "bench",
    "messages": [{"role": "user", "content": "How much does the premium plan cost?"}],
}
ANSWER = "The premium plan costs 12 euros per month, billed yearly."
TARGETS = {"rps_ratio": 0.8, "added_ratio": 1.25, "memory_ratio": 1.2}

# -- the fake backend (its own process) ------------------------------------------------------------------


def _canned_response() -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "bench",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 11, "total_tokens": 20},
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class _Backend(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: frames each request by Content-Length and answers the canned reply."""

    REPLY = _canned_response()

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            match = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(buffer) < total:
                return
            del buffer[:total]
            assert self.transport is not None
            self.transport.write(self.REPLY)


@contextlib.asynccontextmanager
async def _serving(with_pid: bool = False) -> AsyncIterator[int | tuple[int, int]]:
    """The fake backend on an OS-chosen port (what `backend()` yields)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Backend, "127.0.0.1", 0, backlog=1024)
    async with server:
        port = server.sockets[0].getsockname()[1]
        yield (port, os.getpid()) if with_pid else port


def backend(*, with_pid: bool = False) -> contextlib.AbstractContextManager[Any]:
    """The fake backend in a spawned process, on uvloop when it is installed; yields its port (and its
    process id, `with_pid`)."""
    serving = functools.partial(_serving, with_pid)
    return spawned_peer(serving, "the fake backend", timeout=20, uvloop=True)


# -- the pass-through proxy: the floor of the stack (its own process) -----------------------------------


class PassThrough:
    """An ASGI app that POSTs every request's body to the backend on one pooled aiohttp session (set up as
    `llmnet_http.Upstream` sets up its own for TLS and proxied servers) and answers with the backend's
    status and body: no routing, no validation, no JSON work. What uvicorn + httptools + uvloop + aiohttp
    cost on their own."""

    def __init__(self, url: str) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None), trust_env=False
        )
        self.url = url
        self.headers = {"Content-Type": "application/json"}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            answer = await response.read()
            status = response.status
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@contextlib.asynccontextmanager
async def _passing_through(backend_port: int) -> AsyncIterator[tuple[int, int]]:
    """The pass-through proxy under uvicorn on an OS-chosen port (what `pass_through()` yields)."""
    import socket

    import uvicorn

    app = PassThrough(f"http://127.0.0.1:{backend_port}/v1/chat/completions")
    config = uvicorn.Config(
        app, http="httptools", ws="none", lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1], os.getpid()
    finally:
        server.should_exit = True
        await task
        await app.session.close()


def pass_through(backend_port: int) -> contextlib.AbstractContextManager[tuple[int, int]]:
    """The pass-through proxy in a spawned process on uvloop (as `llmnet serve` runs); yields (port, pid)."""
    serving = functools.partial(_passing_through, backend_port)
    return spawned_peer(serving, "the pass-through proxy", timeout=30, uvloop=True)


# -- llmnet serve ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def llmnet_serve(backend_port: int, folder: Path) -> Iterator[tuple[int, int]]:
    """`llmnet serve` (one worker) on a free port in front of the backend; yields (port, pid)."""
    composition = {
        "models": {"m": {"type": "external", "url": f"http://127.0.0.1:{backend_port}", "model": "bench"}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = folder / "bench.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    llmnet = Path(sys.executable).with_name("llmnet")
    command = [str(llmnet), "serve", str(path), "--port", "0", "--max-concurrent", "1024"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        port = _read_port(process)
        _wait_healthy(port)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_port(process: subprocess.Popen[str]) -> int:
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if match:
            return int(match.group(1))
    raise RuntimeError(f"llmnet serve did not start (exit status {process.poll()})")


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("llmnet serve did not answer /health within 20 s")


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) a process has used so far, in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def send(port: int, count: int, connections: int) -> None:
    """Send exactly `count` chat requests over `connections` keep-alive connections (for the memory
    figures, where wrk's duration-based runs cannot stop at a number of requests)."""
    body = json.dumps(REQUEST).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    left = [count]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                writer.write(head + body)
                status_and_headers = await reader.readuntil(b"\r\n\r\n")
                if not status_and_headers.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"llmnet serve answered {status_and_headers[:40]!r}")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", status_and_headers)
                await reader.readexactly(int(length.group(1)) if length else 0)
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), timeout=120)


# -- wrk -------------------------------------------------------------------------------------------------

LUA = """
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
"""


@dataclass
class Run:
    """One wrk run's figures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    #: the server's CPU time per request, in µs (user and system)
    cpu_us: float = float("nan")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(script: Path, port: int, connections: int, duration: float) -> Run:
    """Run wrk against 127.0.0.1:port and parse its report."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Run(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=requests,
        errors=errors,
    )


# -- main ------------------------------------------------------------------------------------------------

#: the targets measured, in the order of a round (reversed every other round)
TARGET_NAMES = ("direct", "pass-through", "llmnet")
#: the targets that run in front of the backend (profiled with --profile, memory measured)
PROXIES = ("pass-through", "llmnet")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=positive, default=2, help="seconds per measurement (default 2)")
    # on a shared machine a round's figures move with where the processes happen to run: more, shorter
    # rounds give steadier medians than a few long ones
    parser.add_argument("--rounds", type=positive, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--concurrency", type=positive, default=64, help="the high level (default 64)")
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="record both servers with py-spy in the first round (PREFIX.llmnet.c1.txt, ...) and summarise",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)")
        return 2
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.profile and not Path(spy).exists():
        print("py-spy is not installed: `pip install py-spy` (and run as root, or allow ptrace)")
        return 2
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        backend_port, backend_pid = stack.enter_context(backend(with_pid=True))
        servers = {
            "direct": (backend_port, backend_pid),
            "pass-through": stack.enter_context(pass_through(backend_port)),
            "llmnet": stack.enter_context(llmnet_serve(backend_port, folder)),
        }
        memory = {name: memory_after(*servers[name]) for name in PROXIES}
        script = folder / "chat.lua"
        script.write_text(LUA % json.dumps(REQUEST), encoding="utf-8")
        results, profiles = in_rounds(servers, script, args, spy)
    report(results, args.concurrency, memory, args.duration, time.monotonic() - started)
    for (name, connections), path in profiles.items():
        summarise(path, name, connections, args.duration)
    return 0


def in_rounds(
    servers: dict[str, tuple[int, int]], script: Path, args: argparse.Namespace, spy: str
) -> tuple[dict[tuple[str, int], list[Run]], dict[tuple[str, int], Path]]:
    """Every target at both concurrency levels in each of `args.rounds` rounds, the order of the targets
    reversed every other round; with `--profile`, py-spy records the proxies in the first round."""
    levels = (1, args.concurrency)
    results: dict[tuple[str, int], list[Run]] = {(n, c): [] for c in levels for n in TARGET_NAMES}
    profiles: dict[tuple[str, int], Path] = {}
    for r in range(args.rounds):
        for connections in levels:
            for name in TARGET_NAMES if r % 2 == 0 else TARGET_NAMES[::-1]:
                port, pid = servers[name]
                wrk(script, port, connections, 1)  # warm-up (and the pool's connections)
                recorder = None
                if args.profile and r == 0 and name in PROXIES:
                    path = profiles[(name, connections)] = Path(f"{args.profile}.{name}.c{connections}.txt")
                    recorder = _record(spy, pid, path, args.duration)
                before = cpu_seconds(pid)
                run = wrk(script, port, connections, args.duration)
                run.cpu_us = (cpu_seconds(pid) - before) / max(run.requests, 1) * 1e6
                results[(name, connections)].append(run)
                if recorder is not None:
                    recorder.wait(timeout=args.duration + 30)
    return results, profiles


def memory_after(port: int, pid: int) -> tuple[int, int]:
    """A server's resident memory (KiB) after 100 requests and after 10,000."""
    asyncio.run(send(port, 100, 1))
    first = rss_kib(pid)
    asyncio.run(send(port, 9900, 16))
    return first, rss_kib(pid)


def _record(spy: str, pid: int, out: Path, duration: float) -> subprocess.Popen[bytes]:
    command = [spy, "record", "-p", str(pid), "-d", str(max(1, round(duration))), "-r", str(SAMPLE_RATE)]
    command += ["-f", "raw", "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


SAMPLE_RATE = 250
#: (part, how to recognise its frames): a sample counts for the part of its innermost recognised frame
_PARTS = (
    ("openai-api backend, llmnet-http", ("llmnet_openai/", "llmnet_http/")),
    ("aiohttp (the HTTP client)", ("aiohttp/",)),
    ("engine (llmnet_core)", ("llmnet_core/",)),
    ("llmnet-serve", ("llmnet_serve/",)),
    ("Starlette", ("starlette/",)),
    ("uvicorn", ("uvicorn/",)),
    ("the pass-through app", ("PassThrough.",)),
)
_LOOP = "event loop (uvloop, httptools: C), asyncio"


def _part(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in _PARTS:
            if any(mark in frame for mark in marks):
                return name
    return _LOOP


def _function(frame: str) -> str:
    """`name (path/file.py:12)` without the line number."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarise(path: Path, name: str, connections: int, duration: float) -> None:
    """Where a server's CPU time went in one profiled run: the share of each part (by the innermost frame
    of each sample), then the busiest functions, inclusive and by their own time."""
    parts: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        loop = [i for i, f in enumerate(frames) if "asyncio/runners.py" in f]
        frames = frames[loop[-1] + 1 :] if loop else frames  # what runs inside the event loop
        parts[_part(frames)] = parts.get(_part(frames), 0) + samples
        for function in {_function(f) for f in frames}:
            inclusive[function] = inclusive.get(function, 0) + samples
        leaf = _function(frames[-1]) if frames else "(in the event loop's C code)"
        own[leaf] = own.get(leaf, 0) + samples
    if not total:
        print(f"\nprofile of {name} at concurrency {connections}: no samples")
        return
    busy = total / (SAMPLE_RATE * max(1, round(duration)))
    print(f"\n{name} at concurrency {connections}: {total} samples, busy {busy:.0%} of the time ({path})")
    for label, samples in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {samples / total:6.1%}  {label}")
    print("  busiest functions, inclusive:")
    for function, samples in sorted(inclusive.items(), key=lambda item: -item[1])[:15]:
        print(f"  {samples / total:6.1%}  {function}")
    print("  busiest functions, own time:")
    for function, samples in sorted(own.items(), key=lambda item: -item[1])[:10]:
        print(f"  {samples / total:6.1%}  {function}")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(
    results: dict[tuple[str, int], list[Run]],
    high: int,
    memory: dict[str, tuple[int, int]],
    duration: float,
    seconds: float,
) -> None:
    """Print the table (medians over the rounds), the ratios the targets name, round by round, the
    servers' CPU time per request, and the memory figures."""
    rounds = len(results[("direct", 1)])
    print(f"{rounds} rounds of {max(1, round(duration))} s per target and concurrency, interleaved; medians")
    print(
        f"{'target':<13} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu µs/req':>10} "
        f"{'errors':>6}  req/s by round"
    )
    for (name, connections), runs in results.items():
        by_round = " ".join(f"{run.rps:.0f}" for run in runs)
        print(
            f"{name:<13} {connections:>4} {_median([r.rps for r in runs]):>9.0f} "
            f"{_median([r.p50_ms for r in runs]):>8.3f} {_median([r.p99_ms for r in runs]):>8.3f} "
            f"{_median([r.cpu_us for r in runs]):>10.0f} {sum(r.errors for r in runs):>6}  {by_round}"
        )
    print()
    _ratios(results, high, rounds)
    errors = sum(run.errors for runs in results.values() for run in runs)
    if errors:
        print(f"  {errors} errors (non-2xx answers or socket errors): see the table")
    for name in PROXIES:
        first, last = memory[name]
        ratio = last / first if first else float("nan")
        target = f"; target ≤ {TARGETS['memory_ratio']}: {_verdict(ratio <= TARGETS['memory_ratio'])}"
        print(
            f"{name} memory: {first / 1024:.1f} MiB after 100 requests, {last / 1024:.1f} MiB after 10,000 "
            f"(ratio {ratio:.3f}{target if name == 'llmnet' else ''})"
        )
    print(f"(llmnet serve with metrics on, no response cache; {os.cpu_count()} CPUs, {seconds:.0f} s)")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _ratios(results: dict[tuple[str, int], list[Run]], high: int, rounds: int) -> None:
    """The figures the targets name, llmnet over the pass-through, per round and their median."""

    def added(name: str, i: int) -> float:
        return results[(name, 1)][i].p50_ms - results[("direct", 1)][i].p50_ms

    def line(label: str, ratios: list[float], target: str, ok: bool | None = None) -> None:
        shown = " ".join(f"{ratio:.2f}" for ratio in ratios)
        verdict = "" if ok is None else f"; target {target}: {_verdict(ok)}"
        print(f"{label}: {_median(ratios):.2f} (rounds: {shown}{verdict})")

    rps = [results[("llmnet", high)][i].rps / results[("pass-through", high)][i].rps for i in range(rounds)]
    line(
        f"req/s at concurrency {high}, llmnet / pass-through",
        rps,
        "≥ 0.8",
        _median(rps) >= TARGETS["rps_ratio"],
    )
    latency = [added("llmnet", i) / added("pass-through", i) for i in range(rounds)]
    ok = _median(latency) <= TARGETS["added_ratio"]
    line("added p50 at concurrency 1, llmnet / pass-through", latency, f"≤ {TARGETS['added_ratio']}", ok)
    llmnet_ms, floor_ms = (_median([added(n, i) for i in range(rounds)]) for n in ("llmnet", "pass-through"))
    print(f"  (added p50 over a direct call: llmnet {llmnet_ms:.3f} ms, pass-through {floor_ms:.3f} ms)")
    cpu = [
        results[("llmnet", high)][i].cpu_us / results[("pass-through", high)][i].cpu_us for i in range(rounds)
    ]
    line(f"server CPU per request at concurrency {high}, llmnet / pass-through", cpu, "")


if __name__ == "__main__":
    sys.exit(main())
