"""Evaluating prompts so that their logits never depend on what the context evaluated before.

llama.cpp's kernels round differently for batches of different sizes: two evaluations of a prompt give the
same logits only when they evaluate it in the same batches at the same positions. So every prompt is
evaluated in runs of `RUN` tokens from its first token (the last run shorter), and the context keeps the
runs of the prompt it evaluated last: a prompt that begins with the same whole runs keeps them and
evaluates only the rest. A kept run was evaluated in the same batch, at the same position, after the same
runs as it would be now, and what the context evaluated after it is dropped (llama.cpp masks the freed
cells out of attention, with weight exactly 0), so the logits are those a new process would compute: the
same request gets the same greedy answer, and a router's choices the same scores, whatever ran before.
A router's fixed instructions, a node's system text and a conversation's history are still not evaluated
again at every call, but for the part after their last whole run.

Every evaluation of a prompt on a generation context goes through `evaluate` (one thread per context);
what is evaluated after the prompt (an answer, a scored choice) is dropped by the next call.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

#: tokens per run: on CPU, a prompt evaluated in runs of 64 takes within a few per cent of one batch of 512
RUN = 64

#: per context, the tokens of the runs it holds from the prompt it evaluated last
_held: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()


def _last_run_start(length: int) -> int:
    return max(0, length - 1) // RUN * RUN


def _kept(held: Sequence[int], tokens: Sequence[int]) -> int:
    """How many leading tokens of `tokens` are whole runs the context holds (never the last run, whose
    logits are needed again)."""
    common = 0
    for a, b in zip(held, tokens, strict=False):
        if a != b:
            break
        common += 1
    return min(common // RUN * RUN, _last_run_start(len(tokens)))


def _drop_after(llama: Any, position: int) -> bool:
    """Remove every cached token from `position` on; False when the cache cannot (a recurrent model's), or
    when llama-cpp-python predates llama.cpp's memory API: then nothing is kept."""
    import llama_cpp

    if not hasattr(llama_cpp, "llama_memory_seq_rm"):
        return False
    return bool(llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llama.ctx), 0, position, -1))


def evaluate(llama: Any, tokens: Sequence[int], *, last_run: bool = True) -> None:
    """Bring the context to `tokens` evaluated in runs from the first token, keeping the runs it holds.

    Without `last_run`, stop where the last run starts: llama-cpp-python's `create_completion` then
    evaluates the rest as one batch on top of what the context holds, and samples after it."""
    tokens = list(tokens)
    keep = _kept(_held.pop(llama, []), tokens)
    if keep and not _drop_after(llama, keep):
        keep = 0
    if not keep:
        llama.reset()
    llama.n_tokens = keep
    end = len(tokens) if last_run else _last_run_start(len(tokens))
    for start in range(keep, end, RUN):
        llama.eval(tokens[start : min(start + RUN, end)])
    _held[llama] = tokens[:end]
