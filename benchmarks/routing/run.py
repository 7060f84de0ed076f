"""Routing accuracy and time per decision of each strategy, on the bundled 270M model.

    .venv/bin/python benchmarks/routing/run.py [--strategies llm,semantic] [--limit N] [--show-misses]

Every labelled request in requests.jsonl goes through composition.json (a router and four handlers) with
the router's strategy switched; the handlers answer with a single token so that the run measures routing.
The time per decision is the router hop's time from the trace, after one warm-up request per strategy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from llmnet_core import Pipeline
from llmnet_core.composition import read_composition

HERE = Path(__file__).resolve().parent


def load_requests(limit: int | None) -> list[dict[str, str]]:
    lines = (HERE / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return rows[:limit] if limit else rows


async def measure(strategy: str, requests: list[dict[str, str]], show_misses: bool) -> dict[str, float]:
    data, _ = read_composition(HERE / "composition.json")
    data["architecture"][0]["router"] = strategy
    data["models"]["local"]["parameters"]["max_tokens"] = 1
    correct, times = 0, []
    async with Pipeline.from_dict(data) as pipeline:
        await pipeline.run("warm-up: what is two plus two?")
        for row in requests:
            result = await pipeline.run(row["text"])
            router, chosen = result.trace.hops[0], result.trace.hops[1].node
            times.append(router.ms)
            if chosen == row["label"]:
                correct += 1
            elif show_misses:
                print(f"  {strategy}: {row['text'][:70]!r} → {chosen} (expected {row['label']})")
    times.sort()
    return {
        "accuracy": correct / len(requests),
        "correct": correct,
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="llm,constrained,semantic")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N requests")
    parser.add_argument("--show-misses", action="store_true", help="print every misrouted request")
    args = parser.parse_args()
    requests = load_requests(args.limit)
    labels = sorted({r["label"] for r in requests})
    print(f"{len(requests)} labelled requests over {len(labels)} handlers ({', '.join(labels)})")
    print(f"{'strategy':<12} {'accuracy':>9} {'correct':>8} {'ms/decision (median)':>21} {'p90 ms':>7}")
    started = time.perf_counter()
    for strategy in args.strategies.split(","):
        r = asyncio.run(measure(strategy, requests, args.show_misses))
        print(
            f"{strategy:<12} {r['accuracy']:>8.0%} {r['correct']:>5}/{len(requests):<3}"
            f" {r['median_ms']:>20.1f} {r['p90_ms']:>8.1f}",
            flush=True,
        )
    print(f"(ran in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
