"""Routing accuracy and time per decision of each strategy, on the bundled 270M model.

    .venv/bin/python benchmarks/routing/run.py [--strategies llm,semantic] [--limit N] [--show-misses]

Every labelled request in requests.jsonl goes through composition.json (a router and four handlers) with
the router's strategy switched. Requests run with `route_only`, so handlers never answer and the run
measures routing alone; the router's model keeps the composition's parameters. The time per decision is
the router hop's time from the trace, after one warm-up request per strategy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from pathlib import Path

from llmnet_core import Pipeline
from llmnet_core.composition import read_composition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared _measure, from any directory
from _measure import existing_file, positive

HERE = Path(__file__).resolve().parent
STRATEGIES = "llm,constrained,semantic"


def load_requests(path: Path, limit: int | None) -> list[dict[str, str]]:
    """The labelled requests (`{"label", "text"}` per line), the first `limit` of them when given."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return rows[:limit] if limit else rows


async def measure(
    composition: Path, strategy: str, requests: list[dict[str, str]], show_misses: bool
) -> dict[str, float]:
    """Accuracy and time per decision of `strategy` over `requests`."""
    data, _ = read_composition(composition)
    data["architecture"][0]["router"] = strategy
    correct, times = 0, []
    async with Pipeline.from_dict(data) as pipeline:
        await pipeline.run("warm-up: what is two plus two?", route_only=True)
        for row in requests:
            result = await pipeline.run(row["text"], route_only=True)
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


def strategy_list(text: str) -> list[str]:
    """`llm, constrained` → ["llm", "constrained"]; an empty list is a usage error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one strategy, e.g. llm,semantic")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=strategy_list, default=strategy_list(STRATEGIES))
    parser.add_argument("--limit", type=positive, default=None, help="use only the first N requests")
    parser.add_argument("--show-misses", action="store_true", help="print every misrouted request")
    parser.add_argument("--requests", type=existing_file, default=HERE / "requests.jsonl")
    parser.add_argument("--composition", type=existing_file, default=HERE / "composition.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a router's warnings (an answer that named no candidate) would bury the table; --show-misses tells more
    logging.getLogger("llmnet").setLevel(logging.ERROR)
    requests = load_requests(args.requests, args.limit)
    labels = sorted({r["label"] for r in requests})
    print(f"{len(requests)} labelled requests over {len(labels)} handlers ({', '.join(labels)})")
    print(f"{'strategy':<12} {'accuracy':>9} {'correct':>8} {'ms/decision (median)':>21} {'p90 ms':>7}")
    started = time.perf_counter()
    for strategy in args.strategies:
        r = asyncio.run(measure(args.composition, strategy, requests, args.show_misses))
        print(
            f"{strategy:<12} {r['accuracy']:>8.0%} {r['correct']:>5}/{len(requests):<3}"
            f" {r['median_ms']:>20.1f} {r['p90_ms']:>8.1f}",
            flush=True,
        )
    print(f"(ran in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
