"""The `grpc` transport: calls a unary method with a request built from JSON and returns the reply as JSON."""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from llmnet_core import (
    FunctionSpec,
    HookCall,
    Problem,
    Resources,
    Transport,
    TransportError,
    TransportTimeoutError,
    decode_reply,
    excerpt,
    option_problems,
    parse_options,
    substitute,
    substitute_json,
)

from .channel import Channel, Method, MethodLookupError, Tls, find_method
from .descriptors import NOT_FOUND, UNIMPLEMENTED, ReflectionError, compile_proto, read_descriptor_set
from .options import HINT, GrpcOptions, TlsOptions, resolve_path

_HINTS = {
    "UNAVAILABLE": "is the server running at {address}, and does `tls` match how it listens?",
    "DEADLINE_EXCEEDED": "the server took longer than {timeout:g} s; raise functions.{name}.timeout",
    "UNIMPLEMENTED": "the server does not implement this method; check functions.{name}.service and .method",
    "UNAUTHENTICATED": "check the credentials in functions.{name}.metadata",
    "PERMISSION_DENIED": "check the credentials in functions.{name}.metadata",
    "INVALID_ARGUMENT": "the server rejected the request; check functions.{name}.request",
}


class GrpcTransport(Transport):
    """Calls one unary gRPC method; the request comes from the JSON `request` template."""

    description = "unary gRPC methods (server reflection, .proto or descriptor set), with TLS and metadata"

    def __init__(self, spec: FunctionSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        self.options = parse_options(
            GrpcOptions, spec.options, f"functions.{spec.name}", hint=HINT, unknown="warn"
        )
        options, where = self.options, f"functions.{spec.name}"
        base = Path(spec.base_dir)  # relative paths start at the composition's folder
        self._pool: Any = None
        self._source: Hashable = "reflection"
        if options.proto:
            path = resolve_path(options.proto, base)
            imports = [resolve_path(p, base) for p in options.import_paths]
            self._pool, self._source = compile_proto(path, imports, f"{where}.proto"), ("proto", str(path))
        elif options.descriptor_set:
            path = resolve_path(options.descriptor_set, base)
            self._pool = read_descriptor_set(path, f"{where}.descriptor-set")
            self._source = ("descriptor-set", str(path))
        if self._pool is not None:
            try:
                find_method(self._pool, options.service, options.method)
            except MethodLookupError as exc:
                field = "proto" if options.proto else "descriptor-set"
                raise TransportError(
                    f"{where}: {exc} in {field} {path}",
                    hint=f"check {where}.service (the full name, package included) and {where}.method",
                ) from None
        self._tls = _load_tls(options.tls, base, where)
        self._label = f"{options.address} /{options.service}/{options.method}"

    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        """The problems of the function's fields (the same checks as when it is first used)."""
        return option_problems(
            GrpcOptions, spec.options, f"functions.{spec.name}", hint=HINT, unknown="warn"
        )[1]

    def channel(self) -> Channel:
        """The pipeline-wide channel to this function's address (with its TLS settings)."""
        address, tls = self.options.address, self._tls
        key = ("llmnet-grpc", address, tls.identity if tls else None)
        return self.resources.get(key, lambda: Channel(address, tls), close=lambda channel: channel.aclose())

    async def call(self, call: HookCall) -> Any:
        """Build the request, call the method, return the response as a dict (None when it is empty)."""
        import grpc

        options, timeout = self.options, self.spec.timeout
        metadata = self._metadata(call.variables)
        try:
            method = await self.channel().method(
                self._source, self._pool, options.service, options.method, timeout, metadata
            )
            request = self._request(method, call.variables)
            response = await method.invoke(request, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise self._status_error(exc) from None
        except ReflectionError as exc:
            raise self._reflection_error(exc) from None
        except MethodLookupError as exc:
            raise self._error(str(exc), f"check functions.{self.spec.name}.service and .method") from None
        return self._reply(method, response)

    # -- building and reading messages ---------------------------------------------------------------

    def _metadata(self, variables: Mapping[str, str]) -> tuple[tuple[str, str | bytes], ...] | None:
        items = []
        for key, template in self.options.metadata.items():
            value = substitute(template, variables)
            items.append((key, value.encode() if key.endswith("-bin") else value))
        return tuple(items) or None

    def _request(self, method: Method, variables: Mapping[str, str]) -> Any:
        from google.protobuf import json_format

        body = substitute_json(self.options.request, variables)
        try:
            return json_format.ParseDict(body, method.request_class(), descriptor_pool=method.pool)
        except json_format.ParseError as exc:
            name = method.request_class.DESCRIPTOR.full_name
            raise self._error(
                f"the request does not fit {name}: {exc}",
                f"check functions.{self.spec.name}.request against the fields of {name}",
            ) from None

    def _reply(self, method: Method, response: Any) -> Any:
        from google.protobuf import json_format

        data = json_format.MessageToDict(
            response,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            descriptor_pool=method.pool,
        )
        field = self.options.reply_field
        if field is None:
            return data or None
        value: Any = data
        for part in field.split("."):
            if not isinstance(value, dict) or part not in value:
                known = ", ".join(data) or "none"
                raise self._error(
                    f"the response has no field {field} (fields: {known})",
                    f"check functions.{self.spec.name}.reply-field",
                )
            value = value[part]
        if isinstance(value, str):  # a text field is read as any peer's text reply is
            return decode_reply(value)
        return value if isinstance(value, dict | list) or value is None else json.dumps(value)

    # -- errors ----------------------------------------------------------------------------------------

    def _error(self, what: str, hint: str, kind: type[TransportError] = TransportError) -> TransportError:
        return kind(f'function "{self.spec.name}": gRPC {self._label}: {what}', hint=hint)

    def _status_error(self, exc: Any) -> TransportError:
        code = exc.code()
        status = code.name if code is not None else "UNKNOWN"
        details = (exc.details() or "").strip().splitlines()
        detail = f" ({excerpt(details[0], 300)})" if details else ""
        template = _HINTS.get(status, "check functions.{name}")
        hint = template.format(address=self.options.address, timeout=self.spec.timeout, name=self.spec.name)
        kind = TransportTimeoutError if status == "DEADLINE_EXCEEDED" else TransportError
        return self._error(f"failed with status {status}{detail}", hint, kind)

    def _reflection_error(self, exc: ReflectionError) -> TransportError:
        where = f"functions.{self.spec.name}"
        if exc.code == UNIMPLEMENTED:
            return self._error(
                f"{exc.message} (v1alpha), so the method cannot be described",
                f'add "proto": "path/to/service.proto" or "descriptor-set": "file.pb" to {where}',
            )
        if exc.code == NOT_FOUND:
            offered = ", ".join(s for s in exc.services if not s.startswith("grpc.reflection.")) or "none"
            return self._error(
                f"the server does not offer service {self.options.service} (services: {offered})",
                f"check {where}.service (the full name, package included)",
            )
        return self._error(f"server reflection failed: {exc.message or exc.code}", f"check {where}")


def _load_tls(tls: bool | TlsOptions, base: Path, where: str) -> Tls | None:
    """Read the TLS files named by the function (errors name the field); None for a plaintext channel."""
    if tls is False:
        return None
    if tls is True:
        return Tls(None, None, None, None, identity=("system",))

    def read(raw: str | None, field: str) -> bytes | None:
        if raw is None:
            return None
        path = resolve_path(raw, base)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TransportError(
                f"{where}.tls.{field}: cannot read {path} ({exc.strerror or type(exc).__name__})",
                hint="give the path of a PEM file; relative paths start at the composition's folder",
            ) from None

    return Tls(
        root_certificates=read(tls.ca_file, "ca-file"),
        private_key=read(tls.key_file, "key-file"),
        certificate_chain=read(tls.cert_file, "cert-file"),
        server_name=tls.server_name,
        identity=(tls.ca_file, tls.cert_file, tls.key_file, tls.server_name),
    )
