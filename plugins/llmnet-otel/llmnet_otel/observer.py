"""The observer that turns llmnet's spans into OpenTelemetry spans and exports them (OTLP over HTTP, in
batches, from a background thread). The SDK is imported when the first span starts."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from llmnet_core import Observer, Span

from .attributes import at_end, at_start, span_name
from .settings import OTelSettings

#: OpenTelemetry span kinds by llmnet span kind (model calls go out to a server)
CLIENT_KINDS = frozenset({"model_call"})
#: seconds one export may take, retries included, unless the environment says otherwise: `llmnet run`
#: waits this long at most for an unreachable collector before it exits
EXPORT_TIMEOUT_S = 5.0
TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")


class OTelObserver(Observer):
    """Exports one OpenTelemetry span per llmnet span, with the same parent and times.

    `tracer_provider`: an SDK TracerProvider to use (an application's own); by default one is built
    from the OTEL_* environment on first use, with the service name `llmnet` unless OTEL_SERVICE_NAME
    (or service.name in OTEL_RESOURCE_ATTRIBUTES) names another.
    """

    def __init__(self, settings: OTelSettings, tracer_provider: Any = None) -> None:
        self.settings = settings
        self._provider = tracer_provider
        self._tracer: Any = None
        self._lock = threading.Lock()
        #: id(llmnet span) -> its OpenTelemetry span, while open
        self._open: dict[int, Any] = {}

    def _get_tracer(self) -> Any:
        if self._tracer is None:
            with self._lock:
                if self._tracer is None:
                    if self._provider is None:
                        self._provider = build_provider(self.settings)

                    self._tracer = self._provider.get_tracer("llmnet", _version())
        return self._tracer

    def span_started(self, span: Span) -> None:
        from opentelemetry.trace import SpanKind, set_span_in_context

        tracer = self._get_tracer()
        parent = self._open.get(id(span.parent)) if span.parent is not None else None
        # a request span with no llmnet parent joins the caller's current trace, if there is one
        context = set_span_in_context(parent) if parent is not None else None
        kind = SpanKind.CLIENT if span.kind in CLIENT_KINDS else SpanKind.INTERNAL
        self._open[id(span)] = tracer.start_span(
            span_name(span),
            context=context,
            kind=kind,
            attributes=_masked(span, at_start(span)),
            start_time=span.start_ns,
        )

    def span_ended(self, span: Span) -> None:
        from opentelemetry.trace import Status, StatusCode

        otel = self._open.pop(id(span), None)
        if otel is None:
            return
        otel.set_attributes(_masked(span, at_end(span, self.settings.capture_content)))
        if span.error is not None:
            otel.set_status(Status(StatusCode.ERROR, span.redact(span.error)))
        elif span.kind == "hook" and span.attributes.get("status") in ("failed", "timeout"):
            otel.set_status(Status(StatusCode.ERROR, f"hook {span.attributes['status']}"))
        otel.end(end_time=span.end_ns)

    def flush(self, timeout_s: float = 5.0) -> None:
        """Export the spans still buffered (before a one-shot command exits)."""
        provider = self._provider
        if provider is not None and self._tracer is not None and hasattr(provider, "force_flush"):
            provider.force_flush(int(timeout_s * 1000))


def build_provider(settings: OTelSettings) -> Any:
    """A TracerProvider exporting in batches to the OTLP/HTTP endpoint of the OTEL_* environment (or to
    stderr with OTEL_TRACES_EXPORTER=console); it flushes when the process exits."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    detected = OTELResourceDetector().detect().attributes
    defaults = {"service.name": "llmnet", "service.version": _version()}
    resource = Resource.create({k: v for k, v in defaults.items() if k not in detected})
    provider = TracerProvider(resource=resource)
    if settings.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter: Any = ConsoleSpanExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        timeout_set = any(os.environ.get(name) for name in TIMEOUT_VARIABLES)
        exporter = OTLPSpanExporter(timeout=None if timeout_set else EXPORT_TIMEOUT_S)
        # one line when the collector cannot be reached, not one per retry
        logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.ERROR)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _masked(span: Span, values: dict[str, Any]) -> dict[str, Any]:
    """Every text value with the composition's secrets masked (they should never be there; this makes
    sure)."""
    for key, value in values.items():
        if isinstance(value, str):
            values[key] = span.redact(value)
        elif isinstance(value, list) and value and isinstance(value[0], str):
            values[key] = [span.redact(v) for v in value]
    return values


def _version() -> str:
    """This plugin's version, as installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llmnet-otel")
    except PackageNotFoundError:
        return "0"
