"""The `constrained` router: the model scores each handler name as its answer, so it can only ever pick one.

A free-form answer from a tiny model is often no handler at all; scoring a closed set of answers by their
likelihood removes that failure and needs a single forward pass over the prompt.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from llmnet_core import (
    Candidate,
    Message,
    PluginOptions,
    Problem,
    RouteDecision,
    Router,
    RouteRequest,
    RoutingError,
)

from .options import options_check, router_options


class ConstrainedOptions(PluginOptions):
    """`router-options` of the constrained router."""

    instructions: str = Field(
        "Choose the handler for the request. Answer with the handler's name only.",
        description="first line of the routing prompt",
    )
    shots: int = Field(0, ge=0, le=20, description="example requests per handler shown to the model")


@functools.lru_cache(maxsize=128)
def routing_prompt(candidates: tuple[Candidate, ...], instructions: str) -> str:
    """The system prompt listing every handler and what it is for."""
    lines = [instructions, "", "Handlers:"]
    for c in candidates:
        what = c.use_case or ("return the answer as it is" if c.is_output else c.name)
        lines.append(f"- {c.name}: {what}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=128)
def demonstrations(candidates: tuple[Candidate, ...], shots: int) -> tuple[Message, ...]:
    """Example requests answered with their handler, taken in turn from each candidate: small base models
    follow a pattern they have seen far better than an instruction."""
    turns: list[Message] = []
    for round_ in range(shots):
        for c in candidates:
            if round_ < len(c.examples):
                turns += [Message("user", c.examples[round_]), Message("assistant", c.name)]
    return tuple(turns)


def softmax(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    weights = {n: math.exp(s - top) for n, s in scores.items()}
    total = math.fsum(weights.values())
    return {n: round(w / total, 4) for n, w in weights.items()}


class ConstrainedRouter(Router):
    """Lets the node's model score only the candidate names and takes the likeliest."""

    description = "the model scores each handler name as its answer; never an invalid choice"

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> list[Problem]:
        """Unknown keys and wrong values of the node's `router-options`, for `validate`."""
        return options_check(ConstrainedOptions, options, "constrained")

    async def choose(self, request: RouteRequest) -> RouteDecision:
        options = router_options(ConstrainedOptions, request, "constrained")
        if request.score is None:
            raise RoutingError(
                f'node "{request.node}" must choose between {", ".join(c.name for c in request.candidates)} '
                "but has no model to ask",
                hint=f'give node "{request.node}" a "model" (a llama-cpp one scores choices)',
            )
        names = [c.name for c in request.candidates]
        messages = [
            Message("system", routing_prompt(request.candidates, options.instructions)),
            *demonstrations(request.candidates, options.shots),
            Message("user", request.text),
        ]
        logprobs = await request.score(messages, names)
        missing = [n for n in names if n not in logprobs]
        if missing:
            raise RoutingError(f'node "{request.node}": the model gave no score for {", ".join(missing)}')
        probabilities = softmax({n: logprobs[n] for n in names})
        best = max(names, key=lambda n: logprobs[n])
        return RouteDecision(
            best, f"likeliest answer (p={probabilities[best]:.2f})", answer=best, scores=probabilities
        )
