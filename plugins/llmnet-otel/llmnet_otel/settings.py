"""When and how llmnet-otel exports traces, read from the standard OpenTelemetry environment variables
(plus LLMNET_OTEL to force it on or off)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})
#: values of OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT that put messages on spans
_CAPTURE = _ON | {"span_only", "span_and_event"}
EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf",)


class OTelConfigError(ValueError):
    """An OTEL_* setting this plugin cannot follow; reported by `llmnet plugins` as the plugin's failure."""


@dataclass(frozen=True)
class OTelSettings:
    """Whether spans are exported, where to (`otlp` or `console`), and whether message content is kept."""

    enabled: bool
    exporter: str = "otlp"
    capture_content: bool = False


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    return None


def from_environ(env: Mapping[str, str] | None = None) -> OTelSettings:
    """Read the settings: on when LLMNET_OTEL is true, or when an OTLP endpoint is set
    (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER is
    `console`; off when LLMNET_OTEL is false, OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is `none`."""
    env = os.environ if env is None else env
    capture = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower() in _CAPTURE
    forced = _flag(env, "LLMNET_OTEL")
    if forced is False or _flag(env, "OTEL_SDK_DISABLED"):
        return OTelSettings(False)
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    exporter = exporter.split(",")[0].strip()
    if exporter not in EXPORTERS:
        raise OTelConfigError(
            f"OTEL_TRACES_EXPORTER={exporter!r} is not supported by llmnet-otel (use otlp, console or none)"
        )
    if exporter == "none":
        return OTelSettings(False)
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if exporter == "otlp" and protocol and protocol not in PROTOCOLS:
        raise OTelConfigError(
            f"OTLP protocol {protocol!r} is not supported by llmnet-otel: it exports http/protobuf "
            "(a collector's port 4318); unset OTEL_EXPORTER_OTLP_PROTOCOL or set it to http/protobuf"
        )
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    enabled = bool(forced or exporter == "console" or (endpoint and endpoint.strip()))
    return OTelSettings(enabled, exporter, capture)
