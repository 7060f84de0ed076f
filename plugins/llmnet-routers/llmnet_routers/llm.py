"""The default `llm` routing strategy: ask the node's model to name a candidate, then parse robustly."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence

from llmnet_core import Candidate, Message, RouteDecision, Router, RouteRequest, RoutingError

log = logging.getLogger("llmnet.routing")
_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def router_prompt(candidates: tuple[Candidate, ...]) -> str:
    """The system prompt that tells a model which handlers exist and how to answer."""
    lines = [
        "You are a router. Read the user's request and choose the one handler best suited to it.",
        "Handlers:",
    ]
    for c in candidates:
        what = c.use_case or ("return the answer as it is" if c.is_output else "general requests")
        lines.append(f"- {c.name}: {what}")
    lines.append("Answer with the handler's name only, exactly as written above, and nothing else.")
    return "\n".join(lines)


def _normalise(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def parse_choice(answer: str, names: Sequence[str]) -> tuple[str | None, str]:
    """Find the candidate a model's answer names: exact, case-insensitive, normalised, or mentioned.

    Returns (name or None, how it matched).
    """
    text = _THINK_RE.sub("", answer).strip()
    cleaned = text.strip(" \t\r\n\"'`*.,:;!?()[]{}<>")
    if cleaned in names:
        return cleaned, "exact"
    lowered = {n.lower(): n for n in names}
    if cleaned.lower() in lowered:
        return lowered[cleaned.lower()], "case-insensitive"
    normalised = {_normalise(n): n for n in names}
    if _normalise(cleaned) in normalised:
        return normalised[_normalise(cleaned)], "normalised"
    found: list[tuple[int, int, str]] = []
    haystack = text.lower()
    for name in names:
        pattern = r"(?<![\w-])" + re.escape(name.lower()).replace(r"\-", r"[-_ ]") + r"(?![\w-])"
        match = re.search(pattern, haystack)
        if match:
            found.append((match.start(), -len(name), name))
    if found:
        return min(found)[2], "named in the reply"
    return None, "no candidate named"


class LLMRouter(Router):
    """Asks the routing node's model to name the best candidate (prompt-and-parse)."""

    description = "asks the node's model to name a handler, then parses its answer"

    async def choose(self, request: RouteRequest) -> RouteDecision:
        if request.complete is None:
            raise RoutingError(
                f'node "{request.node}" must choose between {", ".join(c.name for c in request.candidates)} '
                "but has no model to ask",
                hint=f'give node "{request.node}" a "model", or add "if" conditions so one target remains',
            )
        names = [c.name for c in request.candidates]
        messages = [
            Message("system", router_prompt(request.candidates)),
            Message("user", request.text),
        ]
        params = {"temperature": 0, **{k.replace("-", "_"): v for k, v in request.options.items()}}
        response = await request.complete(messages, **params)
        target, how = parse_choice(response.text, names)
        if target is None:
            log.warning("router %s answered %r, which names no candidate", request.node, response.text[:80])
            return RouteDecision(
                target=names[0],
                reason=f"the answer named no candidate; fell back to the first ({names[0]})",
                answer=response.text,
            )
        return RouteDecision(target=target, reason=f"llm answer ({how})", answer=response.text)
