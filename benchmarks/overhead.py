"""Per-request overhead of llmnet's engine over plain, pooled HTTP calls made with the same client.

The workload is a two-hop pipeline: a router at layer 0 picks one of two layer-1 handlers with the `llm`
routing strategy (one model call), the chosen handler answers (a second model call), and its answer goes
to the output node. Both calls go to a fast fake OpenAI-compatible server written here with raw asyncio
(HTTP/1.1 keep-alive, Content-Length framing, canned `chat.completion` replies), which runs in a separate
process so that it shares neither the event loop nor the GIL with the measured client.

Two modes are measured in the same run, interleaved round by round so that machine noise hits both alike:

* baseline: the same two HTTP calls (same JSON body shapes) made directly with one pooled
  `aiohttp.ClientSession`, set up as the openai-api backend sets up its own for TLS and proxied servers
  (`llmnet_http.Upstream`), one after the other for each request;
* llmnet: `await pipeline.run(prompt)` on `Pipeline.from_dict(...)` of the composition.

Each mode runs at concurrency 1 (sequential requests) and at concurrency 64 (`asyncio.gather` under a
semaphore of 64), after a warm-up. The table shows, per mode and concurrency: requests measured, median
and p99 latency per request (queueing behind the semaphore excluded), requests per second, the client
process's CPU time per request, the size of the HTTP connection pool afterwards, and the ratio of
llmnet's median latency to the baseline's (target: at most 1.15 at both concurrencies). Nothing is
asserted; the figures are printed and the exit status is 0.

Both clients are the openai-api backend's, keep-alive connections kept 30 s: the baseline aiohttp, llmnet
llmnet-http's own lean client, which the backend uses for plain http:// servers such as this one (~12 µs
of CPU per request against aiohttp's ~110 µs, so llmnet can be cheaper than the baseline). (Until the
backend moved from httpx to aiohttp, httpcore 1.0's pool did work that grew with the square of its
connection count on every request and dominated both modes at concurrency 64.) `--budget` bounds every
measurement: requests not started when it runs out are skipped, and the `n` column says how many ran.

Needs only what `pip install -e . -e plugins/*` installs (aiohttp comes with llmnet-openai). Only
127.0.0.1 is used. `--profile FILE` also runs cProfile over llmnet-only requests after each level and
prints how much of `Pipeline.run` is llmnet's own code rather than the HTTP client.

    .venv/bin/python benchmarks/overhead.py            # full run (~45-100 s on 2 cores)
    .venv/bin/python benchmarks/overhead.py --quick    # a smoke run (~15 s)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling _measure, from any directory
from _measure import in_rounds, percentile, spawned_peer

MODEL = "bench-model"
HANDLERS = ("sales", "support")
#: the fake server recognises a handler call by this marker in its system prompt; anything else is routing
HANDLER_MARKER = "HANDLER-NODE"
HANDLER_CONTEXT = {
    "sales": f"{HANDLER_MARKER}: you answer questions about prices and orders.",
    "support": f"{HANDLER_MARKER}: you help customers with refunds and problems.",
}
USE_CASES = {"sales": "questions about prices and orders", "support": "refunds and problems"}
PROMPTS = (
    "How much does the premium plan cost per month?",
    "I want a refund for my broken order, please help.",
)
HANDLER_ANSWER = "Thanks for your question. Here is a short, helpful answer from the handler."
TARGET_RATIO = 1.15
WARMUP = 50

# -- the fake OpenAI-compatible server (runs in its own process) -------------------------------------


def _canned(content: str) -> bytes:
    """A complete HTTP/1.1 response carrying a chat.completion whose message is `content`."""
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
        }
    ).encode()
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    return head + body


class _FakeOpenAIProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: frames requests by Content-Length and answers canned JSON.

    A request whose body carries HANDLER_MARKER gets the handler answer; any other request is a routing
    call and gets "support" when the body mentions a refund, else "sales".
    """

    REPLY_SALES = _canned("sales")
    REPLY_SUPPORT = _canned("support")
    REPLY_HANDLER = _canned(HANDLER_ANSWER)
    BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        transport = self.transport
        assert transport is not None
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            start = head.find(b"content-length:")
            length = 0
            if start >= 0:
                stop = head.find(b"\r\n", start)
                try:
                    length = int(head[start + 15 : stop if stop >= 0 else len(head)])
                except ValueError:
                    transport.write(self.BAD_REQUEST)
                    transport.close()
                    return
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            if HANDLER_MARKER.encode() in body:
                transport.write(self.REPLY_HANDLER)
            elif b"refund" in body:
                transport.write(self.REPLY_SUPPORT)
            else:
                transport.write(self.REPLY_SALES)


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[int]:
    """The fake server (in its own process): listen on 127.0.0.1, an OS-chosen port, and give the port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_FakeOpenAIProtocol, "127.0.0.1", 0, backlog=1024)
    async with server:
        yield server.sockets[0].getsockname()[1]


# -- the two modes -------------------------------------------------------------------------------------


def composition(url: str) -> dict[str, Any]:
    """The two-hop composition: router (layer 0) → sales | support (layer 1) → output (layer 2)."""
    return {
        "models": {MODEL: {"type": "external", "interface": "openai-api", "url": url, "api-key": None}},
        "architecture": [
            {"name": "router", "layer": 0, "model": MODEL, "output-to": [1]},
            *(
                {
                    "name": name,
                    "layer": 1,
                    "model": MODEL,
                    "use-case": USE_CASES[name],
                    "context": HANDLER_CONTEXT[name],
                    "output-to": [2],
                }
                for name in HANDLERS
            ),
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }


def router_system_prompt() -> str:
    """A routing prompt of the same shape (and about the same size) as the `llm` strategy's."""
    lines = [
        "You are a router. Read the user's request and choose the one handler best suited to it.",
        "Handlers:",
        *(f"- {name}: {USE_CASES[name]}" for name in HANDLERS),
        "Answer with the handler's name only, exactly as written above, and nothing else.",
    ]
    return "\n".join(lines)


RequestFn = Callable[[str], Awaitable[str]]


def make_baseline(session: Any, url: str) -> RequestFn:
    """Two sequential POSTs per request on one pooled aiohttp session, with the engine's body shapes
    (encoded and decoded as the backend does: compact JSON text, `json.loads` of the body)."""
    endpoint = url.rstrip("/") + "/chat/completions"
    system = router_system_prompt()
    headers = {"Content-Type": "application/json"}

    async def post(body: dict[str, Any]) -> str:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        async with session.post(endpoint, data=data, headers=headers) as response:
            response.raise_for_status()
            payload = json.loads(await response.read())
        return str(payload["choices"][0]["message"]["content"])

    async def request(prompt: str) -> str:
        route_body = {
            "temperature": 0,
            "model": MODEL,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
        }
        answer = (await post(route_body)).strip()
        handler = answer if answer in HANDLERS else HANDLERS[0]
        handler_body = {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": HANDLER_CONTEXT[handler]},
                {"role": "user", "content": prompt},
            ],
        }
        return await post(handler_body)

    return request


def make_llmnet(pipeline: Any) -> RequestFn:
    """One `Pipeline.run` per request."""

    async def request(prompt: str) -> str:
        result = await pipeline.run(prompt)
        return str(result.output)

    return request


# -- measuring -----------------------------------------------------------------------------------------


@dataclass
class Sample:
    """Latencies (seconds) of one batch of requests, the batch's wall time and the client's CPU time."""

    latencies: list[float]
    wall: float
    cpu: float


async def measure(request: RequestFn, count: int, concurrency: int, budget: float | None = None) -> Sample:
    """Send `count` requests, at most `concurrency` at a time; time each one (queueing excluded).

    With a `budget` (seconds), requests not yet started when it runs out are skipped, so a slow run stays
    bounded; the sample then holds fewer latencies than `count`.
    """
    latencies: list[float] = []
    clock = time.perf_counter
    started, cpu_started = clock(), time.process_time()
    deadline = started + budget if budget is not None else float("inf")
    if concurrency == 1:
        for i in range(count):
            if clock() > deadline:
                break
            t0 = clock()
            await request(PROMPTS[i % 2])
            latencies.append(clock() - t0)
    else:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with semaphore:
                if clock() > deadline:
                    return
                t0 = clock()
                await request(PROMPTS[i % 2])
                latencies.append(clock() - t0)

        await asyncio.gather(*(one(i) for i in range(count)))
    return Sample(latencies, clock() - started, time.process_time() - cpu_started)


@dataclass
class Row:
    """One line of the result table."""

    mode: str
    concurrency: int
    count: int
    median_ms: float
    p99_ms: float
    rps: float
    cpu_us: float
    connections: int | None


def summarise(mode: str, concurrency: int, samples: list[Sample], connections: int | None) -> Row:
    latencies = [x for s in samples for x in s.latencies]
    wall = sum(s.wall for s in samples)
    cpu = sum(s.cpu for s in samples)
    count = len(latencies)
    return Row(
        mode,
        concurrency,
        count,
        statistics.median(latencies) * 1000,
        percentile(latencies, 99) * 1000,
        count / wall if wall else 0.0,
        cpu / count * 1e6 if count else 0.0,
        connections,
    )


def pool_connections(session: Any) -> int | None:
    """Connections held by an aiohttp session's connector, idle and busy, or open in llmnet-http's lean
    pool (diagnostic only; None when not found)."""
    lean = getattr(session, "lean", None)
    if lean is not None:
        return len(lean.open)
    connector = getattr(session, "connector", None)
    idle = getattr(connector, "_conns", None)
    busy = getattr(connector, "_acquired", None)
    if idle is None or busy is None:
        return None
    return sum(len(held) for held in idle.values()) + len(busy)


def pipeline_client(pipeline: Any) -> Any:
    """The pooled connections the openai-api backend keeps in the pipeline's resources (its `Upstream`'s
    lean pool, or its aiohttp session), or None."""
    from llmnet_http import Upstream

    for value in vars(pipeline.resources).values():
        if isinstance(value, dict):
            for item in value.values():
                if isinstance(item, Upstream):
                    return item if item.lean is not None else item.session
    return None


async def check_answers(modes: dict[str, RequestFn]) -> None:
    """Both modes must route each prompt to a handler and return the handler's answer."""
    for name, request in modes.items():
        for prompt in PROMPTS:
            answer = await request(prompt)
            if answer != HANDLER_ANSWER:
                raise RuntimeError(f"{name}: unexpected answer {answer!r} for {prompt!r}")


async def run_benchmark(
    port: int, plan: list[tuple[int, int]], rounds: int, budget: float, profile: str | None
) -> list[tuple[Row, Row]]:
    """Measure both modes at each (concurrency, requests) of `plan`; returns (baseline, llmnet) rows."""
    from llmnet_http import Upstream

    from llmnet_core import Pipeline

    url = f"http://127.0.0.1:{port}/v1"
    # the same session settings as the openai-api backend's (llmnet_http/client.py: Upstream)
    upstream = Upstream(f"http://127.0.0.1:{port}")
    client = upstream.session
    results: list[tuple[Row, Row]] = []
    async with client, Pipeline.from_dict(composition(url)) as pipeline:
        modes = {"baseline": make_baseline(client, url), "llmnet": make_llmnet(pipeline)}
        await check_answers(modes)
        clients = {"baseline": client, "llmnet": pipeline_client(pipeline)}
        for concurrency, total in plan:
            per_round = max(1, total // rounds)
            for request in modes.values():  # warm-up: open the pools' connections, fill caches
                await measure(request, max(WARMUP, concurrency * 2), concurrency, budget / 4)
            batch = functools.partial(
                measure, count=per_round, concurrency=concurrency, budget=budget / rounds
            )
            samples = await in_rounds(modes, rounds, batch)
            rows = [
                summarise(name, concurrency, samples[name], pool_connections(clients[name]))
                for name in ("baseline", "llmnet")
            ]
            results.append((rows[0], rows[1]))
            if profile:  # right after this level's measurement, so the pool is in the same state
                await profile_llmnet(modes["llmnet"], concurrency, per_round, budget / rounds, profile)
    return results


async def profile_llmnet(request: RequestFn, concurrency: int, count: int, budget: float, path: str) -> None:
    """cProfile `count` llmnet requests at `concurrency`; save the stats to PATH.c<concurrency> and print
    where the time goes: llmnet's own code versus the HTTP client."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    await measure(request, count, concurrency, budget)
    profiler.disable()
    target = f"{path}.c{concurrency}"
    profiler.dump_stats(target)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"\n== cProfile of llmnet requests at concurrency {concurrency} (saved to {target}) ==")
    stats.sort_stats("tottime").print_stats(12)
    print_own_share(stats)


#: where the HTTP client's code lives (aiohttp and its URL and header libraries)
_HTTP_CLIENT = ("/aiohttp/", "/yarl/", "/multidict/")


def _is_own(filename: str) -> bool:
    """True for llmnet's own modules (not the editable-install import finders)."""
    own = ("/llmnet_core/", "/llmnet_openai/", "/llmnet_http/")
    return any(part in filename for part in own) and "finder" not in filename


def print_own_share(stats: Any) -> None:
    """Print llmnet's share of a profile: Pipeline.run's cumulative time minus what the openai-api
    backend spends in its HTTP client, and the self time of llmnet's functions."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats
    total = stats.total_tt or 1.0

    def cumulative(file_part: str, func: str) -> float:
        return sum(e[3] for k, e in table.items() if file_part in k[0] and k[2] == func)

    run = cumulative("llmnet_core/engine.py", "run")
    complete = cumulative("llmnet_openai/backend.py", "complete")
    http = sum(  # cumulative time of HTTP client functions, as far as llmnet's own code called them
        contribution[3]
        for (filename, _line, _func), entry in table.items()
        if any(part in filename for part in _HTTP_CLIENT)
        for caller, contribution in entry[4].items()
        if _is_own(caller[0])
    )
    print(
        f"Pipeline.run: {run / total * 100:.1f}% of the profile; in the backend's complete(): "
        f"{complete / total * 100:.1f}%, of which HTTP client calls {http / total * 100:.1f}%"
    )
    print(
        f"llmnet's own time ≈ run - HTTP client calls = {(run - http) / total * 100:.1f}% "
        f"(engine outside the backend: {(run - complete) / total * 100:.1f}%)"
    )
    own = sorted(((e[2], k) for k, e in table.items() if _is_own(k[0])), reverse=True)
    share = sum(t for t, _ in own) / total * 100
    print(f"self time of llmnet_core/llmnet_openai functions: {share:.1f}%; top 10:")
    for tottime, (filename, line, func) in own[:10]:
        short = filename.split("/main/", 1)[-1]
        print(f"  {tottime / total * 100:5.1f}%  {short}:{line}({func})")


def print_table(results: list[tuple[Row, Row]]) -> None:
    """Print the result table and the ratio llmnet/baseline of median latency."""
    header = (
        f"{'mode':<9} {'conc':>4} {'n':>5} {'median ms':>10} {'p99 ms':>9} {'req/s':>7} "
        f"{'cpu µs/req':>10} {'pool conns':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for baseline, llmnet in results:
        ratio = llmnet.median_ms / baseline.median_ms if baseline.median_ms else float("nan")
        for row, shown in ((baseline, ""), (llmnet, f"{ratio:.2f}")):
            conns = "?" if row.connections is None else str(row.connections)
            print(
                f"{row.mode:<9} {row.concurrency:>4} {row.count:>5} {row.median_ms:>10.3f} "
                f"{row.p99_ms:>9.3f} {row.rps:>7.0f} {row.cpu_us:>10.0f} {conns:>10} {shown:>6}"
            )
    print(f"\nratio = llmnet median / baseline median latency (target ≤ {TARGET_RATIO})")
    for baseline, llmnet in results:
        extra = llmnet.median_ms - baseline.median_ms
        cpu = llmnet.cpu_us - baseline.cpu_us
        print(
            f"concurrency {baseline.concurrency}: llmnet adds {extra:+.3f} ms to the median latency and "
            f"{cpu:+.0f} µs of client CPU per request ({cpu / 2:+.0f} µs per model call)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--requests",
        type=int,
        nargs="+",
        metavar="N",
        help="measured requests per mode: at concurrency 1 and (optional second value, else 6×N) at the "
        "high concurrency (split evenly over the rounds) [default: 500 3000; --quick: 100 640]",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (fewer requests, 2 rounds)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="interleaved rounds per concurrency [default: 4]"
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="the high concurrency level [default: 64]"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds allowed per mode and concurrency; requests not started in time are skipped "
        "(the table's n column says how many ran) [default: 40; --quick: 8]",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="after each concurrency level's measurement, cProfile llmnet-only requests (one round's "
        "worth), print where the time goes and save the stats to FILE.c1, FILE.c64",
    )
    args = parser.parse_args(argv)
    if args.requests is None:
        sequential, concurrent = (100, 640) if args.quick else (500, 3000)
    elif len(args.requests) <= 2:
        sequential = args.requests[0]
        concurrent = args.requests[1] if len(args.requests) == 2 else 6 * sequential
    else:
        parser.error("--requests takes one or two numbers")
    budget = args.budget if args.budget is not None else (8.0 if args.quick else 40.0)
    rounds = 2 if args.quick and args.rounds == 4 else args.rounds
    if min(sequential, concurrent, rounds, args.concurrency) < 1 or budget <= 0:
        parser.error("--requests, --rounds, --concurrency and --budget must be positive")
    plan = [(1, sequential), (args.concurrency, concurrent)]
    print(
        f"python {sys.version.split()[0]}; {rounds} interleaved rounds; requests per mode: {sequential} at "
        f"concurrency 1, {concurrent} at concurrency {args.concurrency}; budget {budget:g} s per mode "
        "and concurrency"
    )
    started = time.perf_counter()
    with spawned_peer(_serving, "the fake server") as port:
        results = asyncio.run(run_benchmark(port, plan, rounds, budget, args.profile))
    print()
    print_table(results)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
