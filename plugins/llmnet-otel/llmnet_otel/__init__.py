"""llmnet plugin: OpenTelemetry traces of every request, exported over OTLP/HTTP.

Active when the OpenTelemetry environment names an endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or LLMNET_OTEL=1; see `settings.from_environ`. Nothing of the
OpenTelemetry SDK is imported until the first span starts, so `llmnet --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmnet_core import Registrar, add_observer, hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "instrument", "llmnet_register_observers"]


@hookimpl(trylast=True)
def llmnet_register_observers(register: Registrar) -> None:
    """Register the `otel` observer when the environment configures OpenTelemetry export."""
    from .settings import from_environ

    settings = from_environ()
    if settings.enabled:
        from .observer import OTelObserver

        register("otel", OTelObserver(settings), description="OpenTelemetry traces over OTLP/HTTP")


def instrument(tracer_provider: Any = None, *, capture_content: bool | None = None) -> Callable[[], None]:
    """Trace every pipeline run of this process with an application's own `tracer_provider` (default:
    the global one), whatever the environment says; returns a function that stops it.

    `capture_content` (default: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT) puts the request's
    messages and the answer on the request span.
    """
    from dataclasses import replace

    from opentelemetry import trace

    from .observer import OTelObserver
    from .settings import from_environ

    try:
        settings = from_environ()
    except ValueError:
        from .settings import OTelSettings

        settings = OTelSettings(True)
    settings = replace(settings, enabled=True)
    if capture_content is not None:
        settings = replace(settings, capture_content=capture_content)
    return add_observer(OTelObserver(settings, tracer_provider or trace.get_tracer_provider()))
