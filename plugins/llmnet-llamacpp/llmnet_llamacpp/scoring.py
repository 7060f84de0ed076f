"""Log-likelihood of fixed answers after a prompt, for constrained routing.

The prompt is evaluated once, by `evaluation.evaluate`: the scores never depend on what ran before, and
the whole runs of a router's fixed instructions are kept from one call to the next. Each answer then costs
one step per extra token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .evaluation import evaluate


def last_logits(llama: Any) -> Any:
    """The logits after the last token evaluated, as float64 (a copy)."""
    import llama_cpp
    import numpy as np

    pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)


def _log_softmax(logits: Any) -> Any:
    import numpy as np

    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


def score_continuations(
    llama: Any, prefix: list[int], continuations: Sequence[str], names: Sequence[str]
) -> dict[str, float]:
    """Sum of token log-probabilities of each continuation after `prefix`, keyed by `names`."""
    evaluate(llama, prefix)
    first = _log_softmax(last_logits(llama))
    scores: dict[str, float] = {}
    for name, text in zip(names, continuations, strict=True):
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if not tokens:
            scores[name] = float("-inf")
            continue
        total = float(first[tokens[0]])
        if len(tokens) > 1:
            llama.n_tokens = len(prefix)
            for position, token in enumerate(tokens[:-1]):
                llama.eval([token])
                total += float(_log_softmax(last_logits(llama))[tokens[position + 1]])
        scores[name] = total
    llama.n_tokens = len(prefix)
    return scores
