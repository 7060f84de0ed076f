"""llmnet plugin: the `grpc` hook transport, for unary gRPC methods described by reflection or a .proto file.

Kept light on purpose: grpcio and protobuf are imported only when a `grpc` function is first used, so
that `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_transports(register: Any) -> None:
    """Register `grpc` (trylast, so a third-party plugin may provide its own)."""
    from .transport import GrpcTransport

    register("grpc", GrpcTransport)
