"""One grpc.aio channel per address (and TLS settings), shared by a pipeline, with its resolved methods."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from .descriptors import add_files, reflect


class MethodLookupError(Exception):
    """The descriptors know no such service or method, or the method streams."""


@dataclass(frozen=True)
class Tls:
    """TLS material read from the function's files; `identity` tells channels apart."""

    root_certificates: bytes | None
    private_key: bytes | None
    certificate_chain: bytes | None
    server_name: str | None
    identity: Hashable


@dataclass(frozen=True)
class Method:
    """A resolved unary method: its message classes, the pool that describes them, and the stub."""

    request_class: Any
    response_class: Any
    pool: Any
    invoke: Any


class Channel:
    """A grpc.aio channel and the methods already resolved on it (by descriptor source and name)."""

    def __init__(self, address: str, tls: Tls | None) -> None:
        import grpc

        if tls is None:
            self.channel = grpc.aio.insecure_channel(address)
        else:
            credentials = grpc.ssl_channel_credentials(
                tls.root_certificates, tls.private_key, tls.certificate_chain
            )
            options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else None
            self.channel = grpc.aio.secure_channel(address, credentials, options)
        self.methods: dict[Hashable, Method] = {}
        self._lock = asyncio.Lock()
        self._reflected: Any = None
        self._reflected_files: set[str] = set()

    async def method(
        self, source: Hashable, pool: Any, service: str, name: str, timeout: float, metadata: Any
    ) -> Method:
        """The method `service`/`name` described by `pool`, or by the server's reflection when it is None."""
        key = (source, service, name)
        found = self.methods.get(key)
        if found is not None:
            return found
        async with self._lock:
            if key not in self.methods:
                if pool is None:
                    pool = await self._reflect(service, timeout, metadata)
                self.methods[key] = self._resolve(pool, service, name)
        return self.methods[key]

    async def aclose(self) -> None:
        """Close the channel (calls in flight are cancelled)."""
        await self.channel.close()

    async def _reflect(self, service: str, timeout: float, metadata: Any) -> Any:
        from google.protobuf import descriptor_pool
        from grpc_reflection.v1alpha import reflection_pb2_grpc

        if self._reflected is None:
            self._reflected = descriptor_pool.DescriptorPool()
        try:
            self._reflected.FindServiceByName(service)
            return self._reflected  # an earlier answer already described it
        except KeyError:
            pass
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        files = await reflect(stub, service, timeout, metadata)
        add_files(self._reflected, files, self._reflected_files)
        return self._reflected

    def _resolve(self, pool: Any, service: str, name: str) -> Method:
        from google.protobuf import message_factory

        descriptor = find_method(pool, service, name)
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        invoke = self.channel.unary_unary(
            f"/{service}/{name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        return Method(request_class, response_class, pool, invoke)


def find_method(pool: Any, service: str, name: str) -> Any:
    """The MethodDescriptor of a unary-unary method; MethodLookupError says what is wrong."""
    try:
        described = pool.FindServiceByName(service)
    except KeyError:
        raise MethodLookupError(f"no service {service} is described") from None
    method = described.methods_by_name.get(name)
    if method is None:
        known = ", ".join(sorted(described.methods_by_name)) or "none"
        raise MethodLookupError(f"service {service} has no method {name} (methods: {known})")
    if method.client_streaming or method.server_streaming:
        raise MethodLookupError(f"{service}/{name} streams; only unary methods can be called from hooks")
    return method
