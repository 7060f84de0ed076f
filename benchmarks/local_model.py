"""The embedded llama.cpp backend against llama-cpp-python called directly, on the bundled 270M model.

    .venv/bin/python benchmarks/local_model.py [--rounds N] [--tokens N]

1. Tokens per second: the same prompt, greedy, the same number of tokens, through llmnet's `llama-cpp`
   backend (streaming and not) and through `Llama.create_completion` on an identically loaded model, in
   alternating rounds. Prints the ratio llmnet / direct (target ≥ 0.95).
2. Cold start: `llmnet run PROMPT` (the default pipeline: routing, then the answer) from process start to
   the first byte of the answer on stdout, against a bare Python process that imports llama_cpp, loads the
   model and produces its first token. Target ≤ 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from llmnet_core import ChatRequest, Message, ModelSpec, Resources

PROMPT = "Write a short story about a lighthouse keeper and a storm."
BIN = Path(sys.executable).parent


def direct_llama(path: str, threads: int) -> Any:
    import llama_cpp

    return llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=threads, verbose=False)


async def throughput(rounds: int, tokens: int) -> None:
    from llmnet_llamacpp.backend import LlamaCppBackend
    from llmnet_llamacpp.bundled import bundled_model_path

    path = str(bundled_model_path())
    threads = os.cpu_count() or 1
    spec = ModelSpec(name="bench", backend="llama-cpp", parameters={"temperature": 0, "max_tokens": tokens})
    backend = LlamaCppBackend(spec, Resources())
    request = ChatRequest(messages=(Message("user", PROMPT),), model="bench")
    llama = direct_llama(path, threads)
    prompt = f"Question: {PROMPT}\nAnswer:"

    def run_direct(stream: bool) -> tuple[int, float]:
        started = time.perf_counter()
        if stream:
            count = sum(
                1
                for c in llama.create_completion(prompt, max_tokens=tokens, temperature=0, stream=True)
                if c["choices"][0]["finish_reason"] is None
            )
        else:
            out = llama.create_completion(prompt, max_tokens=tokens, temperature=0)
            count = out["usage"]["completion_tokens"]
        return count, time.perf_counter() - started

    async def run_llmnet(stream: bool) -> tuple[int, float]:
        started = time.perf_counter()
        if stream:
            count = 0
            async for chunk in backend.stream(request):
                if chunk.usage is not None:
                    count = chunk.usage.completion_tokens
        else:
            count = (await backend.complete(request)).usage.completion_tokens
        return count, time.perf_counter() - started

    await backend.complete(request)  # load and warm both
    run_direct(False)
    for stream in (False, True):
        direct, ours = [], []
        for _ in range(rounds):
            n, s = run_direct(stream)
            direct.append(n / s)
            n, s = await run_llmnet(stream)
            ours.append(n / s)
        d, o = statistics.median(direct), statistics.median(ours)
        label = "streaming" if stream else "whole answer"
        print(f"tokens/s {label:<13} direct {d:6.1f}   llmnet {o:6.1f}   ratio {o / d:.3f}", flush=True)


def first_byte(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert process.stdout is not None
    process.stdout.read(1)
    elapsed = time.perf_counter() - started
    process.stdout.read()
    process.wait()
    return elapsed


def cold_start(rounds: int) -> None:
    env = {**os.environ}
    bare = (
        "import sys, llama_cpp\n"
        "from llmnet_llamacpp.bundled import bundled_model_path\n"
        "l = llama_cpp.Llama(model_path=str(bundled_model_path()), n_ctx=2048, verbose=False)\n"
        "for c in l.create_completion('Question: What is the capital of France?\\nAnswer:', max_tokens=8,"
        " temperature=0, stream=True):\n"
        "    sys.stdout.write(c['choices'][0]['text']); sys.stdout.flush()\n"
    )
    ours, base = [], []
    for _ in range(rounds):
        base.append(first_byte([sys.executable, "-c", bare], env))
        ours.append(first_byte([str(BIN / "llmnet"), "run", "What is the capital of France?"], env))
    b, o = statistics.median(base), statistics.median(ours)
    print(
        f"cold start to first answer byte: llmnet run {o:.2f} s (router + answer)   "
        f"bare llama-cpp-python {b:.2f} s (answer only)   ratio {o / b:.2f}   target ≤ 3 s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(throughput(args.rounds, args.tokens))
    cold_start(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
