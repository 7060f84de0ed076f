"""Time and accuracy of the `semantic` router's decisions: llama.cpp embeddings against the sentence encoder.

    .venv/bin/python benchmarks/routing/decision_speed.py [--rounds N] [--limit N] [--threads N] [--float]
        [--requests PATH] [--composition PATH] [--llama-output-layer]

Every labelled request goes through the composition twice, with `route_only` so that no handler answers:
once with the router embedding through its own model (the bundled Gemma 3 270M on llama.cpp, the
baseline) and once with `router-options.embedding-model` naming a `sentence-encoder` model (the bundled
all-MiniLM-L6-v2). The pipelines are open at once and take turns, all the requests at a time, in the
opposite order every other round, so that noise from other processes hits each alike: on shared cores
compare the medians and their ratio rather than single figures. The time is the routing decision's own
(`decision["ms"]` in the trace); accuracy counts the first round. `--float` adds the encoder with
`"quantize": false` (float arithmetic) as a third variant. With `--llama-output-layer`, it also
estimates how much of a llama.cpp embedding goes to the model's output layer.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from llmnet_core import Pipeline
from llmnet_core.composition import read_composition

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _measure import existing_file, percentile, positive  # noqa: E402 - the benchmarks' shared module

BASELINE = "llama.cpp (router's model)"
ENCODER = "sentence-encoder"
FLOAT = "sentence-encoder, float"
ENCODER_MODEL = "enc"


def load_rows(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """Labelled requests: `text` (or `messages`, a conversation) and `label` (a name or a list of names)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def prompt_of(row: dict[str, Any]) -> str | list[dict[str, str]]:
    return row["text"] if "text" in row else row["messages"]


def labels_of(row: dict[str, Any]) -> set[str]:
    label = row["label"]
    return set(label) if isinstance(label, list) else {label}


def compositions(path: Path, threads: int | None, floats: bool = False) -> dict[str, dict[str, Any]]:
    """The composition with a `semantic` entry router: as written (the baseline), with the encoder, and
    (with `floats`) with the encoder computing in float."""
    data, _ = read_composition(path)
    data["architecture"][0]["router"] = "semantic"
    variants = {BASELINE: data}
    for name, quantize in [(ENCODER, True), (FLOAT, False)][: 2 if floats else 1]:
        parameters: dict[str, Any] = {"quantize": quantize}
        if threads is not None:
            parameters["n_threads"] = threads
        variant = copy.deepcopy(data)
        variant["models"][ENCODER_MODEL] = {
            "type": "external",
            "runner": "sentence-encoder",
            "parameters": parameters,
        }
        router = variant["architecture"][0]
        router["router-options"] = {**router.get("router-options", {}), "embedding-model": ENCODER_MODEL}
        variants[name] = variant
    return variants


async def decide(pipeline: Pipeline, row: dict[str, Any]) -> tuple[float, float, bool]:
    """One routing decision: its milliseconds, the CPU milliseconds of this thread (the event loop's)
    for the whole request, and whether it chose a right handler."""
    cpu = time.thread_time()
    result = await pipeline.run(prompt_of(row), route_only=True)
    cpu_ms = (time.thread_time() - cpu) * 1000
    chosen = result.trace.hops[1]
    decision = chosen.decision or {}
    return float(decision["ms"]), cpu_ms, chosen.node in labels_of(row)


async def measure(
    variants: dict[str, dict[str, Any]], rows: list[dict[str, Any]], rounds: int
) -> dict[str, dict[str, Any]]:
    """Per variant: decision times and loop-thread CPU times (every round) and the number of right
    decisions (the first round)."""
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    correct = dict.fromkeys(names, 0)
    pipelines = {name: Pipeline.from_dict(data) for name, data in variants.items()}
    try:
        for pipeline in pipelines.values():
            await pipeline.run("warm-up: what is two plus two?", route_only=True)
        for r in range(rounds):
            # a variant's requests one after another: llama.cpp's threads stay busy for a moment after
            # each decision, which would slow whatever ran right after it in this process
            for name in names if r % 2 == 0 else names[::-1]:
                gc.collect()
                for row in rows:
                    ms, cpu_ms, right = await decide(pipelines[name], row)
                    times[name].append(ms)
                    cpu[name].append(cpu_ms)
                    correct[name] += int(right and r == 0)
    finally:
        for pipeline in pipelines.values():
            await pipeline.aclose()
    return {name: {"times": times[name], "cpu": cpu[name], "correct": correct[name]} for name in names}


def output_layer_share(rows: list[dict[str, Any]], limit: int = 50) -> None:
    """Compare a llama.cpp embedding of each text with evaluating the same tokens in a generation
    context, which applies the output layer to the last token only: the difference bounds what an
    embedding would save by skipping the output layer."""
    import llama_cpp
    from llmnet_llamacpp.bundled import bundled_model_path

    path = str(bundled_model_path())
    common = {"model_path": path, "n_ctx": 512, "n_batch": 512, "verbose": False}
    pooling = llama_cpp.LLAMA_POOLING_TYPE_MEAN
    embedder = llama_cpp.Llama(**common, embedding=True, pooling_type=pooling)
    generator = llama_cpp.Llama(**common)
    texts = [r["text"] for r in rows if "text" in r][:limit]
    embed_ms, eval_ms = [], []
    for round_ in range(2):
        for text in texts:
            tokens = generator.tokenize(text.encode("utf-8"))
            started = time.perf_counter()
            embedder.embed(text)
            took = (time.perf_counter() - started) * 1000
            generator.reset()
            started = time.perf_counter()
            generator.eval(tokens)
            if round_:  # the first round warms both contexts up
                embed_ms.append(took)
                eval_ms.append((time.perf_counter() - started) * 1000)
    whole, body = statistics.median(embed_ms), statistics.median(eval_ms)
    print(f"\nllama.cpp output layer ({len(texts)} texts, vocabulary {generator.n_vocab():,}):")
    print(f"  embedding (every token through the output layer): median {whole:.1f} ms")
    print(f"  same tokens, output layer on the last token only:  median {body:.1f} ms")
    print(f"  skipping the output layer would save at most ~{max(0.0, 1 - body / whole):.0%}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive, default=3, help="passes over the requests (default 3)")
    parser.add_argument("--limit", type=positive, default=None, help="use only the first N requests")
    parser.add_argument("--threads", type=positive, default=None, help="the encoder's n_threads")
    parser.add_argument(
        "--float", action="store_true", help='also measure the encoder with "quantize": false'
    )
    parser.add_argument("--requests", type=existing_file, default=HERE / "requests.jsonl")
    parser.add_argument("--composition", type=existing_file, default=HERE / "composition.json")
    parser.add_argument(
        "--llama-output-layer", action="store_true", help="also estimate the output layer's share"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run both variants and print the table and the speed ratio."""
    args = parse_args(argv)
    logging.getLogger("llmnet").setLevel(logging.ERROR)
    rows = load_rows(args.requests, args.limit)
    variants = compositions(args.composition, args.threads, args.float)
    print(f"{len(rows)} labelled requests × {args.rounds} rounds, {args.composition.name}")
    started = time.perf_counter()
    results = asyncio.run(measure(variants, rows, args.rounds))
    columns = ("accuracy", 9), ("correct", 8), ("median ms", 10), ("p90 ms", 8), ("loop CPU ms", 12)
    header = f"{'embeddings':<28}" + "".join(f" {title:>{width}}" for title, width in columns)
    print(header)
    print("-" * len(header))
    medians = {}
    for name, result in results.items():
        times = result["times"]
        medians[name] = statistics.median(times)
        accuracy = result["correct"] / len(rows)
        print(
            f"{name:<28} {accuracy:>8.0%} {result['correct']:>4}/{len(rows):<3}"
            f" {medians[name]:>10.2f} {percentile(times, 90):>8.2f} {statistics.median(result['cpu']):>12.2f}"
        )
    for name in [n for n in medians if n != BASELINE]:
        ratio = medians[BASELINE] / medians[name]
        print(
            f"speed-up of the median decision, {name}: {ratio:.1f}×"
            f" ({medians[BASELINE]:.1f} → {medians[name]:.1f} ms)"
        )
    print(
        "loop CPU ms: CPU time of the event loop's thread per request (median): all of the encoder's work\n"
        "for a short request, which runs there, so about its decision time on otherwise idle cores;\n"
        "only the hand-over for llama.cpp, which computes on threads of its own"
    )
    if args.llama_output_layer:
        output_layer_share(rows)
    print(f"(ran in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
