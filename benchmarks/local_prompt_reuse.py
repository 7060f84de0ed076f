"""What evaluating prompts in the same batches every time costs the embedded backend, against reusing
whatever prefix the context still holds from the call before.

    .venv/bin/python benchmarks/local_prompt_reuse.py [--rounds 4] [--calls 2] [--tokens 16] [--threads N]
                                                      [--run N]

llama.cpp rounds differently for batches of different sizes, so a prompt gives the same logits, hence the
same greedy answer and the same choice scores, only when it is evaluated in the same batches at the same
positions. Three ways, on one loaded model (the bundled Gemma 3 270M), greedy, in alternating rounds:

- `reuse`: keep the longest prefix the context holds and evaluate the rest in one batch (llama-cpp-python's
  own prefix reuse for answers, and the same for choice scoring): the batches depend on what ran before;
- `afresh`: evaluate every prompt from its first token in one batch (n_batch permitting), keeping nothing;
- `runs`: what the `llama-cpp` backend does: evaluate every prompt in runs of `evaluation.RUN` tokens from
  its first token, keeping the whole runs that the context holds from the prompt before.

Each workload first makes one untimed call, so that the context holds what a call of the same kind
leaves. Prints, per workload, the tokens evaluated per call (prompt and answer), the median ms per call
of each way and their ratios to `reuse`; then what a call of `evaluation.evaluate` costs when it keeps
everything but the last run.
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
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from llmnet_core import Candidate, ChatRequest, Message, ModelSpec, Resources
from llmnet_core.composition import read_composition

ROUTING = Path(__file__).resolve().parent / "routing"
SYSTEM = "You are a helpful assistant. Answer briefly and precisely."
QUESTIONS = [
    "What is the capital of France?",
    "Name three colours of the rainbow.",
    "How many legs does a spider have?",
    "What is the boiling point of water?",
    "Who wrote Romeo and Juliet?",
    "What is the largest planet of the solar system?",
    "Why is the sky blue?",
    "What do bees make?",
]
CONVERSATION = [
    ("I am planning a trip to Italy in spring.", "That sounds lovely: spring is a good time to visit Italy."),
    ("Which cities should I see first?", "Rome, Florence and Venice are the classic first three."),
    ("How many days in Rome?", "Three or four days cover the main sights of Rome."),
    ("Is the train between them fast?", "Yes: high-speed trains link Rome, Florence and Venice."),
    ("What should I eat in Florence?", "Try bistecca alla fiorentina, ribollita and gelato."),
    ("And in Venice?", "Cicchetti in a bacaro, risotto al nero di seppia and tiramisù."),
    ("Do I need to book museums ahead?", "For the Uffizi and the Vatican Museums, yes: book early."),
    ("What about the weather in April?", "Mild, 15 to 20 °C by day, with some rain: bring a light coat."),
]

Workload = Callable[[Any, int], Awaitable[Any]]


def _reuse_prefix(llama: Any, prefix: list[int]) -> None:
    """`reuse` for choice scoring: keep the prefix the context holds, evaluate the rest in one batch."""
    held = llama.input_ids[: llama.n_tokens].tolist()
    common = 0
    for a, b in zip(held, prefix, strict=False):
        if a != b:
            break
        common += 1
    common = min(common, len(prefix) - 1)  # the last token is evaluated again for its logits
    llama.n_tokens = common
    llama.eval(prefix[common:])


@contextlib.contextmanager
def way(name: str) -> Iterator[None]:
    """Switch the backend to one of the three ways while the block runs."""
    from llmnet_llamacpp import backend, evaluation, scoring

    saved = backend.evaluate, scoring.evaluate, evaluation.RUN
    if name == "reuse":  # create_completion then reuses the prefix itself
        backend.evaluate = lambda llama, tokens, last_run=True: None
        scoring.evaluate = _reuse_prefix
    elif name == "afresh":  # one run: the whole prompt, which is never kept
        evaluation.RUN = 1 << 30
    try:
        yield
    finally:
        backend.evaluate, scoring.evaluate, evaluation.RUN = saved
        evaluation._held.clear()  # what `reuse` left is no run


def request(*messages: Message) -> ChatRequest:
    return ChatRequest(messages=messages, model="bench")


@functools.cache
def candidates() -> tuple[Candidate, ...]:
    """The routing benchmark's four handlers."""
    data, _ = read_composition(ROUTING / "composition.json")
    layer = [n for n in data["architecture"] if n.get("layer") == 1]
    return tuple(Candidate(n["name"], n["use-case"], tuple(n["examples"])) for n in layer)


def routing_messages(shots: int, text: str) -> list[Message]:
    """What the `constrained` router sends to score for `text`."""
    from llmnet_routers.constrained import ConstrainedOptions, demonstrations, routing_prompt

    return [
        Message("system", routing_prompt(candidates(), ConstrainedOptions().instructions)),
        *demonstrations(candidates(), shots),
        Message("user", text),
    ]


def workloads() -> dict[str, Workload]:
    """Each takes the backend and the call's number (-1: the untimed first call)."""
    names = [c.name for c in candidates()]
    texts = [
        json.loads(line)["text"] for line in (ROUTING / "requests.jsonl").read_text().splitlines()[:40:4]
    ]

    def question(i: int) -> str:
        return QUESTIONS[(i + 1) % len(QUESTIONS)]

    def conversation(i: int) -> ChatRequest:
        turns = CONVERSATION[: (i + 1) % len(CONVERSATION) + 1]
        history = [
            Message(role, text) for q, a in turns[:-1] for role, text in (("user", q), ("assistant", a))
        ]
        return request(Message("system", SYSTEM), *history, Message("user", turns[-1][0]))

    async def router_and_handler(model: Any, i: int) -> Any:
        text = texts[(i + 1) % len(texts)]
        await model.score_choices(routing_messages(0, text), names)
        return await model.complete(request(Message("system", SYSTEM), Message("user", text)))

    return {
        "same request again": lambda m, i: m.complete(request(Message("user", QUESTIONS[1]))),
        "same system, new question": lambda m, i: m.complete(
            request(Message("system", SYSTEM), Message("user", question(i)))
        ),
        "routing (scores), 0 shots": lambda m, i: m.score_choices(
            routing_messages(0, texts[(i + 1) % len(texts)]), names
        ),
        "routing (scores), 3 shots": lambda m, i: m.score_choices(
            routing_messages(3, texts[(i + 1) % len(texts)]), names
        ),
        "router then handler": router_and_handler,
        "conversation, one turn more": lambda m, i: m.complete(conversation(i)),
    }


class Counted:
    """Counts the tokens the context evaluates (every evaluation goes through `Llama.eval`)."""

    def __init__(self, llama: Any) -> None:
        self.tokens = 0
        original = llama.eval

        def counting(tokens: Any) -> None:
            self.tokens += len(tokens)
            original(tokens)

        llama.eval = counting


async def timed(workload: Workload, model: Any, calls: int, counted: Counted) -> list[tuple[float, int]]:
    """Milliseconds and tokens evaluated of each of `calls` calls, after one untimed call."""
    await workload(model, -1)
    results = []
    for i in range(calls):
        counted.tokens = 0
        started = time.perf_counter()
        await workload(model, i)
        results.append(((time.perf_counter() - started) * 1000, counted.tokens))
    return results


WAYS = ("reuse", "afresh", "runs")


async def measure(rounds: int, calls: int, tokens: int, threads: int | None) -> None:
    from llmnet_llamacpp.backend import LlamaCppBackend
    from llmnet_llamacpp.evaluation import RUN, evaluate

    parameters = {"temperature": 0, "max_tokens": tokens, "n_threads": threads}
    spec = ModelSpec(name="bench", backend="llama-cpp", parameters=parameters)
    model = LlamaCppBackend(spec, Resources())
    await model.complete(request(Message("user", "warm-up")))
    context = (await model.model()).generation
    counted = Counted(await context.run(lambda llama: llama))
    print(
        f"answers: greedy, at most {tokens} tokens; runs of {RUN} tokens; llama.cpp threads: "
        f"{threads or 'all cores'}; {rounds} rounds of {calls} calls per way and workload"
    )
    print(f"{'workload':<28} {'tokens evaluated':>26} {'ms per call':>26} {'ratio to reuse':>15}")
    print(f"{'':<28}" + "".join(f" {w:>8}" for w in WAYS * 2) + f" {'afresh':>7} {'runs':>7}", flush=True)
    for name, workload in workloads().items():
        results: dict[str, list[tuple[float, int]]] = {w: [] for w in WAYS}
        for round_ in range(rounds):
            for w in WAYS if round_ % 2 == 0 else WAYS[::-1]:
                with way(w):
                    results[w] += await timed(workload, model, calls, counted)
        ms = {w: statistics.median(t for t, _ in r) for w, r in results.items()}
        n = {w: statistics.median(k for _, k in r) for w, r in results.items()}
        print(
            f"{name:<28}"
            + "".join(f" {n[w]:>8.0f}" for w in WAYS)
            + "".join(f" {ms[w]:>8.1f}" for w in WAYS)
            + f" {ms['afresh'] / ms['reuse']:>7.2f} {ms['runs'] / ms['reuse']:>7.2f}",
            flush=True,
        )

    def bookkeeping(llama: Any) -> float:
        prompt = llama.tokenize((" ".join(QUESTIONS) * 4).encode())[: 3 * RUN + 1]
        evaluate(llama, prompt, last_run=False)  # evaluates 3 runs
        started = time.perf_counter()
        for _ in range(1000):
            evaluate(llama, prompt, last_run=False)  # keeps them
        return (time.perf_counter() - started) / 1000 * 1e6

    print(
        f"evaluate() keeping {3 * RUN} tokens and evaluating nothing: {await context.run(bookkeeping):.1f} µs"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per way, alternating (default 4)")
    parser.add_argument("--calls", type=int, default=2, help="timed calls per workload and round (default 2)")
    parser.add_argument("--tokens", type=int, default=16, help="max_tokens of each answer (default 16)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--run", type=int, default=None, help="tokens per run (default: evaluation.RUN)")
    args = parser.parse_args()
    if args.run:
        from llmnet_llamacpp import evaluation

        evaluation.RUN = args.run
    started = time.perf_counter()
    asyncio.run(measure(args.rounds, args.calls, args.tokens, args.threads))
    print(f"(ran in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
