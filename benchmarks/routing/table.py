"""Accuracy and decision time of every routing strategy on the mixed set, as the table in README.md.

    .venv/bin/python benchmarks/routing/table.py [--split heldout|train] [--only NAME,...]

Each row runs `llmnet eval` (route only) over one split with the ten handlers described by their
use-case only and with their examples. `semantic` is measured twice: embedding with the bundled
Gemma 3 270M (the router node's own model) and with the bundled sentence encoder (all-MiniLM-L6-v2,
plugin llmnet-encoder). Latency is the whole routing decision as the trace records it (embedding the
request, scoring, choosing), p50 and p90, on this machine, after one warm-up request.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from llmnet_eval.evaluate import EvalRequest, evaluate

from llmnet_core.composition import read_composition

HERE = Path(__file__).resolve().parent / "mixed"

#: name → (strategy, router-options, use the sentence encoder)
ROWS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "semantic, sentence encoder": ("semantic", {}, True),
    "semantic, sentence encoder, sticky 0.15": ("semantic", {"sticky": 0.15}, True),
    "semantic, Gemma embeddings": ("semantic", {}, False),
    "llm (answer constrained to the names)": ("llm", {}, False),
    "constrained": ("constrained", {}, False),
}


def variant(source: Path, strategy: str, options: dict[str, Any], encoder: bool, folder: Path) -> Path:
    """A copy of `source` whose router uses `strategy` with `options` (and the encoder when asked)."""
    data, _ = read_composition(source)
    router = data["architecture"][0]
    router["router"] = strategy
    router["router-options"] = dict(options)
    if encoder:
        data["models"]["encoder"] = {"runner": "sentence-encoder"}
        router["router-options"]["embedding-model"] = "encoder"
    path = folder / f"{source.stem}-{abs(hash((strategy, json.dumps(options), encoder)))}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def measure(row: str, source: Path, split: str, folder: Path) -> dict[str, Any]:
    strategy, options, encoder = ROWS[row]
    path = variant(source, strategy, options, encoder, folder)
    report = evaluate(EvalRequest(str(path), str(HERE / f"{split}.jsonl")))
    run = report["runs"][0]
    return {"accuracy": run["accuracy"], "latency": run["latency_ms"], "kinds": run["kinds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["heldout", "train"], default="heldout")
    parser.add_argument("--only", help='row names separated by ";" (default: all)')
    args = parser.parse_args()
    rows = [r.strip() for r in args.only.split(";")] if args.only else list(ROWS)
    print(f"| strategy | use-case only | with examples | decision p50 / p90 (ms) |  ({args.split}.jsonl)")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            figures = [
                measure(row, HERE / f"{n}.jsonc", args.split, Path(tmp)) for n in ("usecase", "examples")
            ]
            latency = figures[1]["latency"]
            cells = [f"{f['accuracy']:.1%}" for f in figures]
            print(f"| {row} | {cells[0]} | {cells[1]} | {latency['p50']} / {latency['p90']} |", flush=True)
            for name, f in zip(("use-case", "examples"), figures, strict=True):
                print(f"<!-- {row} {name} kinds: {json.dumps(f['kinds'])} -->", flush=True)


if __name__ == "__main__":
    main()
