"""The fields of a `grpc` function, validated with pydantic; errors name `functions.<name>.<field>`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from llmnet_core import PluginOptions

_SERVICE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_METHOD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")
_TARGET_SCHEMES = ("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:")
HINT = (
    "a grpc function takes: type, timeout, {known}; tls takes true or ca-file, cert-file, key-file, "
    "server-name"
)


class TlsOptions(PluginOptions):
    """TLS settings: a CA to trust, a client certificate for mutual TLS, the name the server's cert holds."""

    ca_file: str | None = Field(None, description="PEM file of the CA(s) to trust (default: system roots)")
    cert_file: str | None = Field(None, description="PEM client certificate chain, for mutual TLS")
    key_file: str | None = Field(None, description="PEM private key of cert-file")
    server_name: str | None = Field(None, description="expected name in the server's certificate")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsOptions:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert-file and key-file go together: give both for mutual TLS, or neither")
        return self


class GrpcOptions(PluginOptions):
    """The fields of a `grpc` function (`type` and `timeout` are read by the core)."""

    address: str = Field(description="host:port of the server (or a gRPC target such as dns:///host:port)")
    service: str = Field(description="full service name, e.g. demo.Enricher")
    method: str = Field(description="the unary method's name, e.g. Enrich")
    request: dict[str, Any] = Field(default_factory=dict, description="the request message as JSON")
    metadata: dict[str, str] = Field(default_factory=dict, description="headers sent with each call")
    tls: bool | TlsOptions = False
    proto: str | None = Field(None, description=".proto file describing the service (no reflection)")
    import_paths: list[str] = Field(default_factory=list, description="extra -I folders for `proto`")
    descriptor_set: str | None = Field(None, description="serialized FileDescriptorSet (no reflection)")
    reply_field: str | None = Field(None, description="return this field of the response as the reply")
    description: str | None = None

    @field_validator("address")
    @classmethod
    def _target(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c.isspace() for c in value):
            raise ValueError("write the server's address as host:port")
        if "://" in value and not value.startswith(_TARGET_SCHEMES):
            raise ValueError(f"{value!r}: write host:port without a scheme (use tls: true for a TLS server)")
        return value

    @field_validator("service")
    @classmethod
    def _service_name(cls, value: str) -> str:
        if not _SERVICE.match(value):
            raise ValueError(f"{value!r} is not a full service name such as demo.Enricher")
        return value

    @field_validator("method")
    @classmethod
    def _method_name(cls, value: str) -> str:
        if not _METHOD.match(value):
            raise ValueError(f"{value!r} is not a method name such as Enrich")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, str]) -> dict[str, str]:
        lowered = {key.lower(): item for key, item in value.items()}
        for key in lowered:
            if not _METADATA_KEY.match(key) or key.startswith("grpc-"):
                raise ValueError(f"{key!r} is not a usable metadata key (letters, digits, - _ . only)")
        return lowered

    @model_validator(mode="after")
    def _one_descriptor_source(self) -> GrpcOptions:
        if self.proto and self.descriptor_set:
            raise ValueError("give either proto or descriptor-set, not both")
        return self


def resolve_path(raw: str, base_dir: Path) -> Path:
    """A path from the composition: `~` expanded, relative ones taken from `base_dir`."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path
