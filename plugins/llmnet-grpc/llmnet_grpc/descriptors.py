"""Where a method's description comes from: the server's reflection service, a .proto file compiled with
grpcio-tools' protoc, or a serialized FileDescriptorSet; and the descriptor pool built from it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmnet_core import TransportError

#: compiled .proto files, by (path, modification time, import paths): each is compiled once per process
_COMPILED: dict[tuple[str, int, tuple[str, ...]], bytes] = {}
PROTOC_TIMEOUT = 60.0
#: gRPC status codes, as numbers (the form reflection's error_response carries)
NOT_FOUND, UNIMPLEMENTED, UNAVAILABLE = 5, 12, 14


class ReflectionError(Exception):
    """The server's reflection service answered with an error (e.g. NOT_FOUND for an unknown service)."""

    def __init__(self, code: int, message: str, services: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.services = list(services)


def add_files(pool: Any, files: Mapping[str, Any], added: set[str]) -> None:
    """Add FileDescriptorProtos to `pool`, each after its dependencies; files the server did not send
    (well-known types) come from protobuf's default pool."""
    from google.protobuf import descriptor_pb2

    def add(name: str) -> None:
        if name in added:
            return
        added.add(name)
        proto = files.get(name)
        if proto is None:
            proto = descriptor_pb2.FileDescriptorProto()
            well_known_pool().FindFileByName(name).CopyToProto(proto)  # KeyError if unknown
        for dependency in proto.dependency:
            add(dependency)
        pool.Add(proto)

    for name in files:
        add(name)


def pool_from_set(data: bytes, where: str) -> Any:
    """A DescriptorPool holding every file of a serialized FileDescriptorSet."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf.message import DecodeError

    try:
        file_set = descriptor_pb2.FileDescriptorSet.FromString(data)
    except DecodeError:
        raise TransportError(
            f"{where}: not a serialized FileDescriptorSet",
            hint="write one with protoc --include_imports --descriptor_set_out=FILE your.proto",
        ) from None
    pool = descriptor_pool.DescriptorPool()
    try:
        add_files(pool, {f.name: f for f in file_set.file}, set())
    except (KeyError, TypeError, ValueError) as exc:
        raise TransportError(
            f"{where}: the descriptor set is incomplete or inconsistent ({exc})",
            hint="build it with protoc's --include_imports so that imported files are included",
        ) from None
    return pool


def read_descriptor_set(path: Path, where: str) -> Any:
    """The pool of a `descriptor-set` file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TransportError(
            f"{where}: cannot read {path} ({exc.strerror or type(exc).__name__})",
            hint="relative paths start at the composition's folder",
        ) from None
    return pool_from_set(data, where)


def compile_proto(path: Path, import_paths: Sequence[Path], where: str) -> Any:
    """The pool of a `proto` file, compiled once per process with grpcio-tools' protoc."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise TransportError(
            f"{where}: cannot read {path} ({exc.strerror or type(exc).__name__})",
            hint="relative paths start at the composition's folder",
        ) from None
    # the file's own folder is searched too, unless an import path already holds the file
    inside = any(path.resolve().is_relative_to(p.resolve()) for p in import_paths)
    includes = tuple(str(p) for p in (import_paths if inside else [*import_paths, path.parent]))
    key = (str(path), stamp, includes)
    if key not in _COMPILED:
        _COMPILED[key] = _run_protoc(path, includes, where)
    return pool_from_set(_COMPILED[key], where)


def _run_protoc(path: Path, includes: Iterable[str], where: str) -> bytes:
    import grpc_tools

    well_known = str(Path(grpc_tools.__file__).parent / "_proto")
    with tempfile.TemporaryDirectory(prefix="llmnet-grpc-") as folder:
        out = Path(folder) / "descriptors.pb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            *(f"-I{include}" for include in includes),
            f"-I{well_known}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            str(path),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PROTOC_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise TransportError(
                f"{where}: protoc did not finish compiling {path} in {PROTOC_TIMEOUT:g} s"
            ) from None
        if done.returncode != 0 or not out.exists():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            detail = "; ".join(lines[:3]) or f"exit status {done.returncode}"
            raise TransportError(
                f"{where}: protoc could not compile {path}: {detail}",
                hint="fix the .proto file, or add the folders it imports from to import-paths",
            )
        return out.read_bytes()


async def reflect(stub: Any, symbol: str, timeout: float, metadata: Any) -> dict[str, Any]:
    """Ask a server's reflection service for the file defining `symbol`, then for any file it depends on
    that the answer left out; returns FileDescriptorProtos by file name."""
    import grpc
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    call = stub.ServerReflectionInfo(timeout=timeout, metadata=metadata)
    try:
        files: dict[str, Any] = {}
        asked: set[str] = set()
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        while request is not None:
            await call.write(request)
            response = await call.read()
            if response is grpc.aio.EOF:
                raise ReflectionError(UNAVAILABLE, "the reflection stream ended early")
            if response.HasField("error_response"):
                error = response.error_response
                services = await _list_services(call) if error.error_code == NOT_FOUND else []
                raise ReflectionError(error.error_code, error.error_message, services)
            for raw in response.file_descriptor_response.file_descriptor_proto:
                proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
                files.setdefault(proto.name, proto)
            missing = [d for f in files.values() for d in f.dependency if d not in files and d not in asked]
            missing = [d for d in missing if not _is_well_known(d)]
            request = None
            if missing:
                asked.add(missing[0])
                request = reflection_pb2.ServerReflectionRequest(file_by_filename=missing[0])
        await call.done_writing()
        return files
    except grpc.aio.AioRpcError as exc:
        if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
            raise ReflectionError(UNIMPLEMENTED, "the server offers no reflection service") from None
        raise
    finally:
        call.cancel()


async def _list_services(call: Any) -> list[str]:
    import grpc
    from grpc_reflection.v1alpha import reflection_pb2

    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    if response is grpc.aio.EOF or not response.HasField("list_services_response"):
        return []
    return [s.name for s in response.list_services_response.service]


def well_known_pool() -> Any:
    """protobuf's default pool, with every well-known type (google/protobuf/*.proto) loaded."""
    from google.protobuf import (  # noqa: F401 - imported for their registration in the default pool
        any_pb2,
        api_pb2,
        descriptor_pool,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        type_pb2,
        wrappers_pb2,
    )

    return descriptor_pool.Default()


def _is_well_known(name: str) -> bool:
    try:
        well_known_pool().FindFileByName(name)
    except KeyError:
        return False
    return True
