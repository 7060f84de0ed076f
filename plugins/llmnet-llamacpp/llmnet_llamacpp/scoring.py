"""Log-likelihood of fixed answers after a prompt, for constrained routing.

The prompt is evaluated once (reusing whatever prefix the context already holds, so a router's fixed
instructions cost nothing after the first request); each answer then costs one step per extra token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _last_logits(llama: Any) -> Any:
    import llama_cpp
    import numpy as np

    pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)


def _log_softmax(logits: Any) -> Any:
    import numpy as np

    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


def _evaluate_prefix(llama: Any, prefix: list[int]) -> None:
    """Bring the context to exactly `prefix`, evaluating only what differs from what it holds."""
    held = llama.input_ids[: llama.n_tokens].tolist()
    common = 0
    for a, b in zip(held, prefix, strict=False):
        if a != b:
            break
        common += 1
    common = min(common, len(prefix) - 1)  # the last token is evaluated again for its logits
    llama.n_tokens = common
    llama.eval(prefix[common:])


def score_continuations(
    llama: Any, prefix: list[int], continuations: Sequence[str], names: Sequence[str]
) -> dict[str, float]:
    """Sum of token log-probabilities of each continuation after `prefix`, keyed by `names`."""
    _evaluate_prefix(llama, prefix)
    first = _log_softmax(_last_logits(llama))
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
                total += float(_log_softmax(_last_logits(llama))[tokens[position + 1]])
        scores[name] = total
    llama.n_tokens = len(prefix)
    return scores
