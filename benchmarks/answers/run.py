"""Right answers of the default pipeline on the answer set, against the committed default, in one run.

    .venv/bin/python benchmarks/answers/run.py [--split train|heldout] [--limit N] [--show-misses]

Every question of the split goes through the baseline (the default pipeline as committed at HEAD, read
with `git show` into a temporary file, or `--baseline FILE`) and through the default pipeline as it is now
(or `--composition FILE`). A reply is right when it contains one of the question's accepted answers,
compared case-insensitively as a whole word or number (README.md). Prints accuracy per kind and overall,
and the route each kind took (the nodes between the entry and the output), for both pipelines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from llmnet_core import Pipeline
from llmnet_core.composition import default_composition_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared _measure, from any directory
from _measure import existing_file, positive

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_PATH = "llmnet_core/data/default.jsonc"


@dataclass
class Tally:
    """What one pipeline did on the split: right answers and routes per kind, and the misses."""

    right: Counter[str] = field(default_factory=Counter)
    asked: Counter[str] = field(default_factory=Counter)
    routes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    misses: list[str] = field(default_factory=list)
    seconds: float = 0.0


def load_questions(path: Path, split: str, limit: int | None) -> list[dict]:
    """The questions of `split`, the first `limit` of them when given."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = [row for row in rows if row["split"] == split]
    return chosen[:limit] if limit else chosen


def is_right(reply: str, answers: list[str]) -> bool:
    """True when `reply` contains one of `answers` as a whole word or number, ignoring case."""
    for answer in answers:
        pattern = rf"(?<!\w)(?<!\d[.,]){re.escape(answer)}(?!\w)(?![.,]\d)"
        if re.search(pattern, reply, re.IGNORECASE):
            return True
    return False


def committed_default() -> str:
    """The default pipeline as committed at HEAD."""
    done = subprocess.run(
        ["git", "show", f"HEAD:{DEFAULT_PATH}"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"cannot read the committed {DEFAULT_PATH}: {done.stderr.strip()} (give --baseline FILE)"
        )
    return done.stdout


async def measure(composition: Path, questions: list[dict], seed: int) -> Tally:
    """Run every question through `composition` and tally the answers."""
    tally = Tally()
    started = time.perf_counter()
    async with Pipeline.from_file(composition) as pipeline:
        for row in questions:
            result = await pipeline.run(row["question"], parameters={"seed": seed})
            kind, reply = row["kind"], result.output.strip()
            route = " → ".join(result.trace.path[1:-1]) or "(entry)"
            tally.asked[kind] += 1
            tally.routes[kind][route] += 1
            if is_right(reply, row["answers"]):
                tally.right[kind] += 1
            else:
                tally.misses.append(f"{kind:<10} {route:<8} {row['question']!r} → {reply[:100]!r}")
    tally.seconds = time.perf_counter() - started
    return tally


def report(name: str, tally: Tally, show_misses: bool) -> None:
    """Accuracy and routes per kind, then overall."""
    print(f"\n{name} ({tally.seconds:.0f} s)")
    print(f"  {'kind':<11} {'right':>9} {'accuracy':>9}   routes")
    for kind in sorted(tally.asked):
        right, asked = tally.right[kind], tally.asked[kind]
        routes = ", ".join(f"{route} {n}" for route, n in tally.routes[kind].most_common())
        print(f"  {kind:<11} {right:>4}/{asked:<4} {right / asked:>9.0%}   {routes}")
    right, asked = sum(tally.right.values()), sum(tally.asked.values())
    print(f"  {'overall':<11} {right:>4}/{asked:<4} {right / asked:>9.0%}")
    if show_misses:
        for miss in tally.misses:
            print(f"    miss: {miss}")


def comparison(baseline: Tally, current: Tally) -> None:
    """One line per kind: baseline accuracy → current accuracy."""
    print("\naccuracy per kind, baseline → now")
    for kind in sorted(current.asked):
        before = baseline.right[kind] / baseline.asked[kind]
        after = current.right[kind] / current.asked[kind]
        print(f"  {kind:<11} {before:>5.0%} → {after:.0%}")
    before = sum(baseline.right.values()) / sum(baseline.asked.values())
    after = sum(current.right.values()) / sum(current.asked.values())
    print(f"  {'overall':<11} {before:>5.0%} → {after:.0%}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["train", "heldout"], default="train")
    parser.add_argument("--limit", type=positive, default=None, help="use only the first N questions")
    parser.add_argument("--show-misses", action="store_true", help="print every wrong reply")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed sent with every request")
    parser.add_argument("--questions", type=existing_file, default=HERE / "questions.jsonl")
    parser.add_argument(
        "--baseline", type=existing_file, default=None, help="instead of the committed default"
    )
    parser.add_argument("--composition", type=existing_file, default=None, help="instead of today's default")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("llmnet").setLevel(logging.ERROR)
    questions = load_questions(args.questions, args.split, args.limit)
    if not questions:
        raise SystemExit(f"no questions in the {args.split} split of {args.questions}")
    current = args.composition or default_composition_path()
    print(f"{len(questions)} questions of the {args.split} split; seed {args.seed}")
    with tempfile.TemporaryDirectory() as folder:
        baseline = args.baseline
        if baseline is None:
            baseline = Path(folder) / "baseline.jsonc"
            baseline.write_text(committed_default(), encoding="utf-8")
        before = asyncio.run(measure(baseline, questions, args.seed))
    report(f"baseline: {args.baseline or f'HEAD:{DEFAULT_PATH}'}", before, args.show_misses)
    after = asyncio.run(measure(current, questions, args.seed))
    report(
        f"now: {current.relative_to(ROOT) if current.is_relative_to(ROOT) else current}",
        after,
        args.show_misses,
    )
    comparison(before, after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
