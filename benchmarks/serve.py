"""What `llmnet serve` adds in front of a model server: latency, throughput and memory, measured with wrk.

A fake OpenAI-compatible backend (raw asyncio, HTTP/1.1 keep-alive, one canned `chat.completion` reply)
runs in its own process. `llmnet serve` runs a one-hop pipeline in front of it (a single entry node that
answers itself, one worker). wrk POSTs the same chat request, through a small Lua script, to the backend
directly and through llmnet, at concurrency 1 and 64, in the same run:

* requests/s, p50 and p99 latency and errors, per target and concurrency;
* the latency llmnet adds at concurrency 1 (p50 through llmnet minus p50 direct);
* the server's resident memory after 100 and after 10,000 requests, and their ratio.

Targets (2-core machine): added p50 latency at concurrency 1 ≤ 1 ms; ≥ 1,500 requests/s through llmnet at
concurrency 64 with no errors; memory ratio ≤ 1.2. Figures are printed; nothing is asserted. Runs in about
a minute; only 127.0.0.1 is used.

    .venv/bin/python benchmarks/serve.py              # full run
    .venv/bin/python benchmarks/serve.py --duration 3 # shorter measurements
    .venv/bin/python benchmarks/serve.py --profile /tmp/serve   # + where the server's time goes (py-spy)

Needs wrk (Debian/Ubuntu: `apt-get install -y wrk`; macOS: `brew install wrk`) and the llmnet-serve plugin
(`pip install -e plugins/llmnet-serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling _measure, from any directory
from _measure import spawned_peer

REQUEST = {
    "model": "bench",
    "messages": [{"role": "user", "content": "How much does the premium plan cost?"}],
}
ANSWER = "The premium plan costs 12 euros per month, billed yearly."
TARGETS = {"added_ms": 1.0, "rps_64": 1500.0, "memory_ratio": 1.2}

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
async def _serving() -> AsyncIterator[int]:
    """The fake backend on an OS-chosen port (what `backend()` yields)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Backend, "127.0.0.1", 0, backlog=1024)
    async with server:
        yield server.sockets[0].getsockname()[1]


def backend() -> contextlib.AbstractContextManager[int]:
    """The fake backend in a spawned process, on uvloop when it is installed; yields its port."""
    return spawned_peer(_serving, "the fake backend", timeout=20, uvloop=True)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--concurrency", type=int, default=64, help="the high concurrency level (default 64)")
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="record the server with py-spy during the llmnet runs (PREFIX.c1.txt, ...) and summarise",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)")
        return 2
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.profile and not Path(spy).exists():
        print("py-spy is not installed: `pip install py-spy` (and run as root, or allow ptrace)")
        return 2
    profiles: dict[int, Path] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, backend() as backend_port:
        folder = Path(tmp)
        script = folder / "chat.lua"
        script.write_text(LUA % json.dumps(REQUEST), encoding="utf-8")
        with llmnet_serve(backend_port, folder) as (port, pid):
            asyncio.run(send(port, 100, 1))
            rss_100 = rss_kib(pid)
            asyncio.run(send(port, 9900, 16))
            rss_10k = rss_kib(pid)
            results: dict[tuple[str, int], Run] = {}
            for connections in (1, args.concurrency):
                for name, target in (("direct", backend_port), ("llmnet", port)):
                    wrk(script, target, connections, 1)  # warm-up
                    recorder = None
                    if args.profile and name == "llmnet":
                        profiles[connections] = Path(f"{args.profile}.c{connections}.txt")
                        recorder = _record(spy, pid, profiles[connections], args.duration)
                    results[(name, connections)] = wrk(script, target, connections, args.duration)
                    if recorder is not None:
                        recorder.wait(timeout=args.duration + 30)
    report(results, args.concurrency, rss_100, rss_10k, time.monotonic() - started)
    for connections, path in profiles.items():
        summarise(path, connections)
    return 0


def _record(spy: str, pid: int, out: Path, duration: float) -> subprocess.Popen[bytes]:
    command = [spy, "record", "-p", str(pid), "-d", str(max(1, round(duration))), "-r", "250"]
    command += ["-f", "raw", "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: (share label, how to recognise its frames); a sample belongs to the first part found in its stack
_PARTS = (
    ("openai-api backend and its HTTP client (aiohttp)", ("llmnet_openai/", "llmnet_http/")),
    ("core engine, own code", ("llmnet_core/",)),
    ("llmnet-serve, Starlette, uvicorn", ("llmnet_serve/", "starlette/", "uvicorn/")),
)
_OUTER = ("llmnet_core/cli.py", "click/", "llmnet_serve/command.py", "llmnet_serve/server.py", "runners.py")


def summarise(path: Path, connections: int) -> None:
    """Where the server's time went during one profiled run: shares by part, then the busiest functions."""
    parts: dict[str, int] = {}
    functions: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [f for f in stack.split(";") if not any(mark in f for mark in _OUTER)]
        frames = [f for f in frames if not f.startswith("<module>")]
        label = next(
            (name for name, marks in _PARTS if any(m in f for f in frames for m in marks)),
            "event loop and other",
        )
        parts[label] = parts.get(label, 0) + samples
        for name in {f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")" for f in frames}:
            functions[name] = functions.get(name, 0) + samples
    if not total:
        print(f"\nprofile at concurrency {connections}: no samples")
        return
    print(f"\nwhere the server's time went at concurrency {connections} ({total} samples, {path}):")
    for label, samples in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {samples / total:6.1%}  {label}")
    print("  busiest functions (inclusive):")
    for name, samples in sorted(functions.items(), key=lambda item: -item[1])[:15]:
        print(f"  {samples / total:6.1%}  {name}")


def report(
    results: dict[tuple[str, int], Run], high: int, rss_100: int, rss_10k: int, seconds: float
) -> None:
    """Print the table, the derived figures and how they compare to the targets."""
    print(f"{'target':<8} {'conc':>4} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for (name, connections), run in results.items():
        print(
            f"{name:<8} {connections:>4} {run.requests:>9} {run.rps:>9.0f} {run.p50_ms:>8.3f} "
            f"{run.p99_ms:>8.3f} {run.errors:>6}"
        )
    added = results[("llmnet", 1)].p50_ms - results[("direct", 1)].p50_ms
    through = results[("llmnet", high)]
    ratio = rss_10k / rss_100 if rss_100 else float("nan")
    print()

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(
        f"added p50 latency at concurrency 1: {added:.3f} ms "
        f"(target ≤ {TARGETS['added_ms']:g} ms: {verdict(added <= TARGETS['added_ms'])})"
    )
    print(
        f"llmnet at concurrency {high}: {through.rps:.0f} req/s, {through.errors} errors "
        f"(target ≥ {TARGETS['rps_64']:.0f} req/s, no errors: "
        f"{verdict(through.rps >= TARGETS['rps_64'] and through.errors == 0)})"
    )
    print(
        f"server memory: {rss_100 / 1024:.1f} MiB after 100 requests, {rss_10k / 1024:.1f} MiB after 10,000 "
        f"(ratio {ratio:.3f}; target ≤ {TARGETS['memory_ratio']}: "
        f"{verdict(ratio <= TARGETS['memory_ratio'])})"
    )
    print(f"({os.cpu_count()} CPUs, {seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
