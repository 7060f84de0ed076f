"""The observer that logs requests: on the end of each "request" span that should be logged, it builds the
row (masked) and hands it to the writer thread."""

from __future__ import annotations

from llmnet_core import Observer, Span

from .settings import logs_path, logs_source


class RequestLog(Observer):
    """Logs every `run` and `chat` request (and `serve` requests when asked) to the SQLite request log.

    Whether `serve` requests are logged is read once, when the first one ends: a server's settings are
    fixed by then (`llmnet serve --log-requests` sets `LLMNET_LOG_SERVE` while it starts), and reading
    the environment for each request was most of what this observer cost a server that logs nothing."""

    kinds = frozenset({"request"})

    def __init__(self) -> None:
        self.serve: bool | None = None

    def span_ended(self, span: Span) -> None:
        attributes = span.attributes
        if attributes.get("log") is False:
            return
        source = attributes.get("source")
        if source == "serve":
            if self.serve is None:
                self.serve = logs_source("serve")
            if not self.serve:
                return
        elif not logs_source(source):
            return
        from .record import request_row
        from .writer import WRITER

        WRITER.put(logs_path(), request_row(span))

    def flush(self, timeout_s: float = 5.0) -> None:
        from .writer import WRITER

        WRITER.flush(timeout_s)
