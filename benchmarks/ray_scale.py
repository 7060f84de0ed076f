"""What Ray Serve gives and costs `llmnet serve`: scaling of a CPU-bound node, and the per-request overhead.

1. **Scaling.** A one-node pipeline on the embedded model (llama.cpp, the bundled Gemma 3 270M, one thread
   per replica, greedy, 32 tokens), served with `llmnet serve --ray` on a local Ray, with the node at
   `"deploy": {"replicas": 1}` and then `{"replicas": 2}` (0.85 CPU reserved per replica, so that two fit
   beside the ingress on 2 CPUs). A client keeps `--concurrency` requests in flight for `--duration`
   seconds after a warm-up; requests/s for each, and their ratio (target on a 2-core machine: >= 1.6).
2. **Overhead.** A one-hop pipeline on a fake OpenAI-compatible backend (serve.py's raw asyncio one, in
   its own process, a canned reply), served in-process (`llmnet serve`) and on Ray (`llmnet serve --ray`,
   one replica per deployment): sequential requests, p50 and p90 latency of each, and the difference
   (what the Ray proxy, the ingress replica and the deployment handle add per request).

Both servers run as users run them (subprocesses); only 127.0.0.1 is used. Prints figures, asserts none.

    .venv/bin/python benchmarks/ray_scale.py                 # ~4-5 min on 2 cores
    .venv/bin/python benchmarks/ray_scale.py --only overhead --requests 100   # one part, shorter

Needs the llmnet-ray plugin (`pip install -e plugins/llmnet-ray`) and llama-cpp-python.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling _measure, from any directory
from _measure import percentile, positive

LLMNET = str(Path(sys.executable).with_name("llmnet"))
QUESTION = "Write one sentence about the sea."
TARGET_RATIO = 1.6


def one_node(model: dict, deploy: dict | None = None) -> dict:
    node = {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]}
    if deploy is not None:
        node["deploy"] = deploy
    return {
        "name": "bench",
        "models": {"m": model},
        "architecture": [node, {"name": "output", "adapter": "output"}],
    }


LLAMA = {
    "runner": "llama-cpp",
    "parameters": {"n_threads": 1, "n_ctx": 512, "temperature": 0, "max_tokens": 32},
}


@contextmanager
def serving(composition: dict, *ray: str) -> Iterator[str]:
    """`llmnet serve` (with `ray` options, on Ray) of `composition` until the block ends; yields its URL."""
    from llmnet_testing import free_port

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.json"
        path.write_text(json.dumps(composition))
        port = free_port()
        process = subprocess.Popen(
            [LLMNET, "serve", str(path), "--port", str(port), "--max-concurrent", "1024", *ray],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if "Ctrl+C stops" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not ready.wait(300) or process.poll() is not None:
                raise SystemExit("the server did not start:\n" + "".join(lines[-20:]))
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def ask(client: httpx.Client, url: str) -> float:
    body = {"model": "bench", "messages": [{"role": "user", "content": QUESTION}]}
    started = time.perf_counter()
    response = client.post(f"{url}/v1/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - started


def replica_cpu_seconds() -> float:
    """CPU seconds used so far by the benchmark node's replicas (Linux /proc; 0 elsewhere)."""
    total = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if b"ServeReplica:bench:chat" not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def throughput(url: str, concurrency: int, duration: float, warmup: int) -> tuple[float, int, float]:
    """Requests/s with `concurrency` requests in flight for `duration` seconds (after `warmup` each), the
    requests done, and the cores the replicas used meanwhile (CPU seconds per second)."""
    window: list[float] = []
    counts = [0] * concurrency
    cpu: list[float] = []

    def open_window() -> None:
        cpu.append(replica_cpu_seconds())
        window.append(time.monotonic())

    barrier = threading.Barrier(concurrency, action=open_window)

    def user(index: int) -> None:
        with httpx.Client(timeout=120) as client:
            for _ in range(warmup):
                ask(client, url)
            barrier.wait()  # everyone warmed up: the window opens
            while time.monotonic() < window[0] + duration:
                ask(client, url)
                counts[index] += 1

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(user, i) for i in range(concurrency)]:
            future.result()
    elapsed = time.monotonic() - window[0]
    cores = (replica_cpu_seconds() - cpu[0]) / elapsed
    return sum(counts) / elapsed, sum(counts), cores


def latencies(url: str, count: int) -> list[float]:
    with httpx.Client(timeout=60) as client:
        for _ in range(10):
            ask(client, url)
        return [ask(client, url) for _ in range(count)]


def scaling(args: argparse.Namespace) -> None:
    print(f"1. scaling: the embedded model, one thread per replica, {args.concurrency} requests in flight")
    rates = {}
    for replicas in (1, 2):
        deploy = {"replicas": replicas, "num-cpus": 0.85}  # two fit beside the ingress on 2 CPUs
        with serving(one_node(LLAMA, deploy), "--ray") as url:
            rate, done, cores = throughput(url, args.concurrency, args.duration, warmup=2)
        rates[replicas] = rate
        plural = "s" if replicas > 1 else " "
        print(
            f"   {replicas} replica{plural}: {rate:6.2f} requests/s ({done} requests); "
            f"the replicas used {cores:.2f} cores"
        )
    ratio = rates[2] / rates[1]
    verdict = "meets" if ratio >= TARGET_RATIO else "below"
    print(f"   2 replicas / 1 replica: {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    print("   (a replica's one thread uses one core at most: fewer cores used = CPUs taken by other work)")


def overhead(args: argparse.Namespace) -> None:
    from serve import backend as fake_backend  # the sibling benchmark's raw asyncio backend

    print(f"2. overhead: a fake backend, {args.requests} sequential requests per server")
    with fake_backend() as port:
        model = {"type": "external", "interface": "openai-api", "url": f"http://127.0.0.1:{port}/v1"}
        results = {}
        for label, ray in (("in-process", ()), ("on Ray", ("--ray",))):
            with serving(one_node({**model, "api-key": None}), *ray) as url:
                samples = latencies(url, args.requests)
            results[label] = samples
            p50, p90 = percentile(samples, 50) * 1000, percentile(samples, 90) * 1000
            mean = statistics.fmean(samples) * 1000
            print(f"   {label:<10}  p50 {p50:7.2f} ms   p90 {p90:7.2f} ms   mean {mean:7.2f} ms")
    added = (percentile(results["on Ray"], 50) - percentile(results["in-process"], 50)) * 1000
    print(f"   Ray Serve adds {added:.2f} ms per request at p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=positive, default=30, help="seconds of load per replica count")
    parser.add_argument("--concurrency", type=positive, default=4, help="requests in flight while scaling")
    parser.add_argument("--requests", type=positive, default=300, help="sequential requests per server")
    parser.add_argument("--only", choices=["scaling", "overhead"], help="run one part")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    if args.only != "overhead":
        scaling(args)
    if args.only != "scaling":
        overhead(args)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
