"""Real gRPC servers on 127.0.0.1 (grpc.aio, generic handlers) for the demo.Enricher service of
protos/demo/enricher.proto, compiled with grpc_tools.protoc at setup; and self-signed TLS material."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha import reflection

PROTOS = Path(__file__).parent / "protos"
SERVICE = "demo.Enricher"


@dataclass
class Demo:
    """The compiled demo protos: the descriptor set file, a pool and the message classes."""

    descriptor_set: Path
    pool: Any
    request: Any
    reply: Any


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """Compile the demo protos (imports included) into a FileDescriptorSet with grpc_tools.protoc."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("protos") / "demo.pb"
    well_known = Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTOS}", f"-I{well_known}", "--include_imports", f"--descriptor_set_out={out}"]
    assert protoc.main([*args, str(PROTOS / "demo" / "enricher.proto")]) == 0
    file_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for proto in file_set.file:  # protoc writes dependencies first
        pool.Add(proto)
    get = message_factory.GetMessageClass
    request = get(pool.FindMessageTypeByName("demo.EnrichRequest"))
    reply = get(pool.FindMessageTypeByName("demo.EnrichReply"))
    return Demo(out, pool, request, reply)


Behaviour = Callable[[dict[str, Any], Any], Any]


@dataclass
class GrpcPeer:
    """A running server: what it received (requests as JSON dicts, and metadata) and its address."""

    server: Any
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests


@pytest.fixture
async def grpc_peer(demo: Demo) -> AsyncIterator[Callable[..., Awaitable[GrpcPeer]]]:
    """Start demo.Enricher servers: `await grpc_peer(behaviour, reflection=True, tls=None)`.

    `behaviour(request_dict, context)` returns the reply as a dict (it may be async, and may abort);
    `tls` is the server credentials object, or None for plaintext.
    """
    peers: list[GrpcPeer] = []

    async def start(behaviour: Behaviour, *, reflection_on: bool = True, tls: Any = None) -> GrpcPeer:
        server = grpc.aio.server()
        peer: GrpcPeer

        async def enrich(request: Any, context: grpc.aio.ServicerContext) -> Any:
            as_dict = json_format.MessageToDict(request, preserving_proto_field_name=True)
            async with peer.arrived:
                peer.requests.append(as_dict)
                peer.metadata.append({k: v for k, v in context.invocation_metadata() or ()})
                peer.arrived.notify_all()
            answer = behaviour(as_dict, context)
            if inspect.isawaitable(answer):
                answer = await answer
            return json_format.ParseDict(answer, demo.reply())

        async def watch(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            yield demo.reply(text="streamed")

        handlers = {
            "Enrich": grpc.unary_unary_rpc_method_handler(
                enrich, request_deserializer=demo.request.FromString, response_serializer=_serialize
            ),
            "Watch": grpc.unary_stream_rpc_method_handler(
                watch, request_deserializer=demo.request.FromString, response_serializer=_serialize
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        if reflection_on:
            reflection.enable_server_reflection([SERVICE, reflection.SERVICE_NAME], server, pool=demo.pool)
        if tls is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            port = server.add_secure_port("127.0.0.1:0", tls)
        await server.start()
        peer = GrpcPeer(server, port)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.release.set()
        await peer.server.stop(0)


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()


# -- TLS material ----------------------------------------------------------------------------------------


@dataclass
class Certificates:
    """PEM files of a test CA, a server certificate it signed (for `server_name` and 127.0.0.1) and a
    client certificate it signed (for mutual TLS)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    server_name: str = "enricher.test"

    def server_credentials(self, *, require_client_auth: bool = False) -> Any:
        pair = (self.server_key.read_bytes(), self.server_cert.read_bytes())
        root = self.ca.read_bytes() if require_client_auth else None
        return grpc.ssl_server_credentials(
            [pair], root_certificates=root, require_client_auth=require_client_auth
        )


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Generate the CA and certificates with the `cryptography` package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write(stem: str, key: Any, cert: Any) -> tuple[Path, Path]:
        key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path

    def builder(subject: str, issuer: str, key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        builder("llmnet test CA", "llmnet test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, _ = write("ca", ca_key, ca_cert)

    def issue(stem: str, common: str, usage: Any, names: list[Any]) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            builder(common, "llmnet test CA", key)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return write(stem, key, cert)

    server_names = [x509.DNSName("enricher.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server_cert, server_key = issue("server", "enricher.test", ExtendedKeyUsageOID.SERVER_AUTH, server_names)
    client_cert, client_key = issue(
        "client", "llmnet client", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("client.test")]
    )
    return Certificates(ca_path, server_cert, server_key, client_cert, client_key)
