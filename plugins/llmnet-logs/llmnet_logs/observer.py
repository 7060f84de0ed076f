"""The observer that logs requests: on the end of each "request" span that should be logged, it builds the
row (masked) and hands it to the writer thread."""

from __future__ import annotations

from llmnet_core import Observer, Span

from .settings import logs_path, logs_source


class RequestLog(Observer):
    """Logs every `run` and `chat` request (and `serve` requests when asked) to the SQLite request log."""

    kinds = frozenset({"request"})

    def span_ended(self, span: Span) -> None:
        if span.attributes.get("log") is False:
            return
        if not logs_source(span.attributes.get("source")):
            return
        from .record import request_row
        from .writer import WRITER

        WRITER.put(logs_path(), request_row(span))

    def flush(self, timeout_s: float = 5.0) -> None:
        from .writer import WRITER

        WRITER.flush(timeout_s)
