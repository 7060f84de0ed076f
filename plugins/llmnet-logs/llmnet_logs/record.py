"""One logged request, as the row written for it: built from the request span when it ends, with every
text masked by the span's `redact` before anything leaves the process's memory."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmnet_core import Span

#: hop roles that do not answer: the node that answered is the last hop with another role
NOT_ANSWERING = ("router", "output")

_hashes: dict[tuple[str, int, int], str] = {}
_hashes_lock = threading.Lock()


def request_row(span: Span) -> dict[str, Any]:
    """The row for a request span that ended: prompt, messages, answer or error, the route and the node
    that answered, timings, tokens, the trace (JSON and table) and the composition; all masked."""
    attributes = span.attributes
    redact: Callable[[str], str] = span.redact
    trace = attributes.get("trace")
    trace_data: dict[str, Any] = trace.to_dict(redact) if trace is not None else {"hops": []}
    hops = trace_data.get("hops") or []
    messages = [
        {"role": str(m.role), "content": redact(str(m.content))} for m in attributes.get("messages") or ()
    ]
    answer = attributes.get("answer")
    error = span.error or trace_data.get("error")
    if error == "CancelledError" or (error is None and answer is None):
        error = "cancelled"  # Ctrl-C in a chat, a client that went away
    usage = trace_data.get("usage") or {}
    handler, reason = answering_node(hops)
    path = attributes.get("composition")
    return {
        "request_id": redact(span.name),
        "started": span.start_ns / 1e9,
        "source": str(attributes.get("source") or "library"),
        "composition": redact(composition_name(attributes.get("composition_name"), path)),
        "composition_path": redact(str(Path(path).resolve())) if path else None,
        "composition_sha256": file_sha256(path),
        "prompt": last_user(messages),
        "messages": messages,
        "answer": redact(answer) if isinstance(answer, str) else None,
        "error": redact(error) if error else None,
        "handler": handler,
        "reason": reason,
        "route": [hop.get("node") for hop in hops],
        "duration_ms": _duration_ms(span, trace_data),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "model_calls": trace_data.get("model_calls"),
        "trace": trace_data,
        "trace_table": trace.render(redact) if trace is not None else "",
    }


def answering_node(hops: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """The node that answered (the last hop that neither routed nor was the output) and how it was
    chosen, from a trace's hops; (None, None) when no node answered."""
    for hop in reversed(hops):
        if hop.get("role") not in NOT_ANSWERING:
            return hop.get("node"), hop.get("chosen_by")
    return None, None


def composition_name(name: object, path: object) -> str:
    """The composition's `name`, else its file's stem, else `default` (the bundled pipeline)."""
    if isinstance(name, str) and name:
        return name
    if isinstance(path, str) and path:
        return Path(path).stem
    return "default"


def last_user(messages: Sequence[Mapping[str, str]]) -> str:
    """The last user message's text (what routing read), or "" when there is none."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""


def file_sha256(path: object) -> str | None:
    """The SHA-256 of the composition file as it is now (cached while its size and time are unchanged);
    None when there is no file or it cannot be read."""
    if not isinstance(path, str) or not path:
        return None
    try:
        stat = Path(path).stat()
        key = (path, stat.st_mtime_ns, stat.st_size)
        with _hashes_lock:
            if key in _hashes:
                return _hashes[key]
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    with _hashes_lock:
        _hashes[key] = digest
    return digest


def _duration_ms(span: Span, trace_data: Mapping[str, Any]) -> float | None:
    if span.end_ns is not None:
        return round((span.end_ns - span.start_ns) / 1e6, 3)
    total = trace_data.get("total_ms")
    return float(total) if isinstance(total, int | float) else None
