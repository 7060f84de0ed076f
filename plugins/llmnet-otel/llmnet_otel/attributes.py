"""From llmnet spans to OpenTelemetry span names and attributes: `gen_ai.*` semantic conventions for
model calls and token usage, `llmnet.*` for the pipeline (nodes, routing decisions, hooks).

Request text and answers are left out unless content capture is on; every text that goes in passes
through the request's redactor, which masks the composition's secrets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmnet_core import Span

#: gen_ai.provider.name (and the older gen_ai.system) of llmnet's backends
PROVIDERS = {"openai-api": "openai", "ollama": "ollama", "llama-cpp": "llama_cpp"}
#: per-request sampling parameters and their gen_ai.request.* attributes
PARAMETERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
}

Attributes = dict[str, Any]


def span_name(span: Span) -> str:
    """`chat <model>` for a model call (as the gen_ai conventions name it), `<kind> <name>` otherwise."""
    if span.kind == "model_call":
        return f"chat {span.attributes.get('model') or span.name}"
    if span.kind == "request":
        return "llmnet request"
    return f"{span.kind} {span.name}"


def at_start(span: Span) -> Attributes:
    """What is known when the span opens."""
    a = span.attributes
    kind = span.kind
    if kind == "request":
        return _clean({"llmnet.request_id": span.name, "llmnet.source": a.get("source")})
    if kind == "hop":
        hop = a.get("hop")
        return _clean(
            {
                "llmnet.node": span.name,
                "llmnet.layer": a.get("layer"),
                "llmnet.hop.index": getattr(hop, "index", None),
            }
        )
    if kind == "route":
        return _clean({"llmnet.node": span.name, "llmnet.route.candidates": _strings(a.get("candidates"))})
    if kind == "hook":
        return _clean(
            {
                "llmnet.node": a.get("node"),
                "llmnet.hook.function": span.name,
                "llmnet.hook.phase": a.get("phase"),
                "llmnet.hook.transport": a.get("transport"),
                "llmnet.hook.mode": a.get("mode"),
            }
        )
    if kind == "model_call":
        return model_call_start(span)
    return {}


def model_call_start(span: Span) -> Attributes:
    """gen_ai attributes of a chat call: operation, provider, requested model and sampling parameters."""
    a = span.attributes
    backend = a.get("backend") or ""
    provider = PROVIDERS.get(backend, backend)
    out: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": a.get("model"),
        "llmnet.node": span.name,
        "llmnet.backend": backend,
        "llmnet.stream": bool(a.get("stream")),
        "llmnet.fallback": a.get("fallback"),
        "llmnet.cache": a.get("cache") if isinstance(a.get("cache"), str) else None,
    }
    parameters = a.get("parameters") or {}
    for name, key in PARAMETERS.items():
        value = parameters.get(name)
        if value is not None:
            out[key] = [value] if name == "stop" and isinstance(value, str) else value
    return _clean(out)


def at_end(span: Span, capture_content: bool) -> Attributes:
    """What the span learnt while it was open (usage, the choice made, how a hook ended)."""
    a = span.attributes
    kind = span.kind
    out: Attributes = {}
    if kind == "request":
        trace = a.get("trace")
        out["llmnet.composition"] = a.get("composition")
        out["llmnet.composition.name"] = a.get("composition_name")
        out["llmnet.path"] = _strings(getattr(trace, "path", None))
        out["llmnet.model_calls"] = getattr(trace, "model_calls", None)
        out |= _usage(a.get("usage"))
        if capture_content:
            out |= _content(span)
    elif kind == "hop":
        out |= _hop(a.get("hop"))
        out["llmnet.role"] = a.get("role")
    elif kind == "route":
        out["llmnet.route.chosen"] = a.get("chosen")
        out["llmnet.route.chosen_by"] = a.get("chosen_by")
        out["llmnet.route.strategy"] = a.get("strategy")
        out |= _scores(a.get("scores"))
    elif kind == "hook":
        out["llmnet.hook.status"] = a.get("status")
    elif kind == "model_call":
        out["gen_ai.response.model"] = a.get("response_model")
        finish = a.get("finish_reason")
        out["gen_ai.response.finish_reasons"] = [finish] if finish else None
        out |= _usage(a.get("usage"))
    if span.error is not None:
        out["error.type"] = a.get("error_type", "Exception")
    return _clean(out)


def _hop(hop: Any) -> Attributes:
    """A hop's model, tokens, how it was chosen (with the decision's scores), fallbacks and cache."""
    if hop is None:
        return {}
    out: Attributes = {
        "llmnet.model": hop.model,
        "llmnet.backend": hop.backend,
        "llmnet.model_calls": hop.model_calls,
        "llmnet.chosen_by": hop.chosen_by,
    }
    decision = hop.decision or {}
    out["llmnet.decision.strategy"] = decision.get("strategy")
    out["llmnet.decision.candidates"] = _strings(decision.get("candidates"))
    out |= {
        k.replace("llmnet.route.", "llmnet.decision."): v for k, v in _scores(decision.get("scores")).items()
    }
    out |= _usage(hop.usage)
    fallbacks = getattr(hop, "fallbacks", None) or ()
    if fallbacks:
        out["llmnet.fallbacks"] = len(fallbacks)
        out["llmnet.fallback.failed_models"] = [str(f.get("model")) for f in fallbacks if isinstance(f, dict)]
        out["llmnet.answered_by"] = getattr(hop, "answered_by", None)
    cache = getattr(hop, "cache", None)
    if isinstance(cache, str):
        out["llmnet.cache"] = cache
    return out


def _usage(usage: Any) -> Attributes:
    if usage is None:
        return {}
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
    }


def _scores(scores: Mapping[str, float] | None) -> Attributes:
    """Routing scores as one JSON attribute (highest first) and one number per candidate."""
    if not scores:
        return {}
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    out: Attributes = {"llmnet.route.scores": json.dumps(dict(ranked))}
    for name, value in ranked:
        out[f"llmnet.route.score.{name}"] = float(value)
    return out


def _content(span: Span) -> Attributes:
    """The request's messages and answer (content capture only), as the gen_ai conventions shape them,
    secrets masked."""
    messages = [
        {
            "role": m.role,
            "parts": [{"type": "text", "content": span.redact(str(m.content))}],
        }
        for m in span.attributes.get("messages") or ()
    ]
    out: Attributes = {"gen_ai.input.messages": json.dumps(messages, ensure_ascii=False)}
    answer = span.attributes.get("answer")
    if answer is not None:
        output = [{"role": "assistant", "parts": [{"type": "text", "content": span.redact(str(answer))}]}]
        out["gen_ai.output.messages"] = json.dumps(output, ensure_ascii=False)
    return out


def _strings(values: Any) -> list[str] | None:
    return [str(v) for v in values] if values else None


def _clean(attributes: Attributes) -> Attributes:
    """Drop empty values (OpenTelemetry refuses None)."""
    return {k: v for k, v in attributes.items() if v is not None and v != ""}
