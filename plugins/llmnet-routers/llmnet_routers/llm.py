"""The default `llm` routing strategy: the node's model names a candidate.

The call asks for one of the candidates' names: backends that can restrict an answer to fixed choices (a
grammar, a JSON schema, a server's guided choice) answer one of them and nothing else, the others are held
to a few tokens. An answer is then read robustly; one that names no candidate follows the node's
`router-options.no-match`: the first candidate (the default), an error, or a candidate named there; a
warning and the decision's reason say so either way.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ConfigDict, Field

from llmnet_core import (
    Candidate,
    Message,
    PluginOptions,
    Problem,
    RouteDecision,
    Router,
    RouteRequest,
    RoutingError,
    excerpt,
)

from .options import options_check, router_options

log = logging.getLogger("llmnet.routing")
_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
#: how `no-match` names its two policies; any other value is a candidate's name
FIRST, ERROR = "first", "error"


class LLMOptions(PluginOptions):
    """`router-options` of the llm router: `no-match`, and any other key is a sampling parameter of the
    model call (`max-tokens` is sent as `max_tokens`)."""

    model_config = ConfigDict(extra="allow")

    no_match: str = Field(
        FIRST,
        description='an answer that names no candidate: "first" takes the first candidate (with a warning '
        'and the reason in the trace), "error" fails the request, a candidate\'s name takes that one',
    )

    def sampling(self) -> dict[str, object]:
        """The sampling parameters for the model call: `temperature: 0`, then the other keys given."""
        extra = {k.replace("-", "_"): v for k, v in (self.model_extra or {}).items()}
        extra.pop("choices", None)  # the router sets the choices itself
        return {"temperature": 0, **extra}


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
    if answer in names:  # an answer restricted to the names is one of them, whatever it contains
        return answer, "exact"
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


def no_match_decision(request: RouteRequest, policy: str, answer: str) -> RouteDecision:
    """What an answer that names no candidate leads to under `router-options.no-match`: a decision whose
    reason says so, or a RoutingError. A warning is logged either way."""
    names = [c.name for c in request.candidates]
    quoted = f'"{excerpt(answer, 80)}"' if answer.strip() else "nothing"
    place = f'node "{request.node}"'
    if policy == ERROR:
        log.warning("%s: the model answered %s, which names no candidate; failing the request", place, quoted)
        raise RoutingError(
            f"{place}: the model answered {quoted}, which names none of {', '.join(names)}",
            hint='set router-options.no-match to "first" (the default), or to a candidate\'s name, to '
            "route such answers there",
        )
    target = names[0] if policy == FIRST else policy
    if target not in names:
        raise RoutingError(
            f'{place}: router-options.no-match "{policy}" is not a candidate here',
            hint=f'candidates here: {", ".join(names)}; or use "first" or "error"',
        )
    log.warning("%s: the model answered %s, which names no candidate; routing to %s", place, quoted, target)
    return RouteDecision(
        target=target,
        reason=f'the answer named no candidate; no-match "{policy}" chose {target}',
        answer=answer,
    )


class LLMRouter(Router):
    """Asks the routing node's model to name the best candidate (restricted to the names where it can)."""

    description = "asks the node's model to name a handler, restricted to their names where the backend can"

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> list[Problem]:
        """Unknown keys and wrong values of the node's `router-options`, for `validate`."""
        return options_check(LLMOptions, options, "llm")

    async def choose(self, request: RouteRequest) -> RouteDecision:
        options = router_options(LLMOptions, request, "llm")
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
        response = await request.complete(messages, choices=names, **options.sampling())
        target, how = parse_choice(response.text, names)
        if target is None:
            return no_match_decision(request, options.no_match, response.text)
        return RouteDecision(target=target, reason=f"llm answer ({how})", answer=response.text)
