"""The generation loop both `complete` and `stream` run on the model's thread.

Stop sequences are matched here, incrementally, rather than by llama-cpp-python, which detokenizes the
whole answer again after every token when given any: text that could still be the start of a stop
sequence is held back until the next token decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from llmnet_core import Usage


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of `text` could begin one of `stops`."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def generate(
    llama: Any,
    tokens: list[int],
    sampling: dict[str, Any],
    stops: Sequence[str],
    emit: Callable[[str], None],
    cancelled: threading.Event | None = None,
) -> tuple[Usage, str | None]:
    """Generate after `tokens`, handing each piece of text to `emit`; returns usage and finish reason."""
    stops = [s for s in stops if s]
    pending, count, finish = "", 0, None
    for chunk in llama.create_completion(tokens, stream=True, stop=[], **sampling):
        if cancelled is not None and cancelled.is_set():
            return Usage(len(tokens), count), "cancelled"
        choice = chunk["choices"][0]
        if choice.get("finish_reason") is not None:
            finish = choice["finish_reason"]
            continue
        count += 1
        pending += choice["text"]
        hits = [i for i in (pending.find(s) for s in stops) if i >= 0]
        if hits:
            if min(hits):
                emit(pending[: min(hits)])
            return Usage(len(tokens), count), "stop"
        keep = _held_back(pending, stops)
        if len(pending) > keep:
            emit(pending[: len(pending) - keep])
            pending = pending[len(pending) - keep :]
    if pending:
        emit(pending)
    return Usage(len(tokens), count), finish
