"""Added latency of one transform hook through llmnet's `websocket` and `grpc` transports.

A peer process (spawned with `multiprocessing`, so it shares neither the event loop nor the GIL with the
measured client) runs two local servers on 127.0.0.1: a `websockets` server that answers each message with
the same text, and a `grpc.aio` server whose service `bench.Echo/Echo` (described in code with
descriptor_pb2, offered through server reflection) returns the request's `text`.

Per transport, four modes are measured in the same run, interleaved round by round so that machine noise
hits them alike, each call after the previous one (concurrency 1):

* direct: the same peer called with the same client library, on one open connection / channel
  (`websockets` send + recv; a `grpc.aio` unary call with the message class built from the same descriptor);
* transport: `await transport.call(hook_call)` on llmnet's transport class (message template substitution,
  pooled connection, reply parsing);
* hook: `await pipeline.run(prompt)` on a one-node pipeline whose node has one transform pre-hook calling
  the peer, and whose model is an in-process echo backend (no network);
* no hook: the same pipeline without the hook (measured once, shared by both transports).

The table shows median and p90 latency per call in ms. Below it, what llmnet adds over the direct call:
`transport - direct`, and for a hook in a pipeline `(hook - no hook) - direct`.
**Target: at most 1 ms added.** Nothing is asserted; the exit status is 0.

    .venv/bin/python benchmarks/transports_ws_grpc.py            # ~15-30 s on 2 cores
    .venv/bin/python benchmarks/transports_ws_grpc.py --quick    # a smoke run (~5 s)

Needs the llmnet-websocket and llmnet-grpc plugins installed (`pip install -e plugins/llmnet-websocket
plugins/llmnet-grpc`); only 127.0.0.1 is used, and `--budget` bounds every measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling _measure, from any directory
from _measure import CallFn, echo_backend_plugin, in_rounds, latency_table, spawned_peer, timed_calls

PROMPT = "Please summarise the attached invoice for the customer in two sentences."
SERVICE, METHOD = "bench.Echo", "Echo"
TARGET_MS = 1.0
WARMUP = 100

# -- the peers (run in their own process) ---------------------------------------------------------------


def echo_file() -> Any:
    """bench.proto, written in code: `message Text { string text = 1; }` and
    `service Echo { rpc Echo (Text) returns (Text); }`."""
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto(name="bench.proto", package="bench", syntax="proto3")
    text = proto.message_type.add(name="Text")
    text.field.add(
        name="text",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        json_name="text",
    )
    proto.service.add(name="Echo").method.add(
        name=METHOD, input_type=".bench.Text", output_type=".bench.Text"
    )
    return proto


def text_class() -> tuple[Any, Any]:
    """A descriptor pool holding bench.proto, and the message class of bench.Text."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(echo_file())
    return pool, message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.Text"))


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[tuple[int, int]]:
    """The peers (in their own process): both servers on OS-chosen ports; gives (websocket, gRPC) port."""
    import grpc
    from grpc_reflection.v1alpha import reflection
    from websockets.asyncio.server import serve

    async def echo_ws(connection: Any) -> None:
        with contextlib.suppress(Exception):
            async for message in connection:
                await connection.send(message)

    pool, text = text_class()

    async def echo_grpc(request: Any, context: Any) -> Any:
        return request

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        echo_grpc, request_deserializer=text.FromString, response_serializer=text.SerializeToString
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),))
    reflection.enable_server_reflection([SERVICE, reflection.SERVICE_NAME], server, pool=pool)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with serve(echo_ws, "127.0.0.1", 0, compression=None) as ws_server:
            yield ws_server.sockets[0].getsockname()[1], grpc_port
    finally:
        await server.stop(0)


# -- the modes ----------------------------------------------------------------------------------------------


def composition(functions: dict[str, Any], hook: str | None) -> dict[str, Any]:
    """One node answered by the in-process echo backend, with one transform pre-hook (or none)."""
    pre = [{"function": hook, "mode": "transform"}] if hook else []
    return {
        "models": {"m": {"backend": "bench-echo"}},
        "functions": functions,
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["out"], "hooks": {"pre": pre}},
            {"name": "out", "adapter": "output"},
        ],
    }


async def run_benchmark(
    ws_port: int, grpc_port: int, count: int, rounds: int, budget: float
) -> dict[str, Any]:
    """Measure every mode; returns {mode name: latencies in seconds}."""
    import grpc
    from websockets.asyncio.client import connect

    from llmnet_core import FunctionSpec, HookCall, Pipeline, Resources
    from llmnet_core.plugins import get_host

    host = get_host()
    host.register(echo_backend_plugin(), "bench-echo-backend")
    transports = host.registries.transports
    ws_url, address = f"ws://127.0.0.1:{ws_port}/bench", f"127.0.0.1:{grpc_port}"
    functions = {
        "ws": {"type": "websocket", "url": ws_url},
        "grpc": {"type": "grpc", "address": address, "service": SERVICE, "method": METHOD}
        | {"request": {"text": "$INPUT"}, "reply-field": "text"},
    }
    variables = {"INPUT": PROMPT, "NODE": "chat", "WORD_COUNT": str(len(PROMPT.split()))}
    hook_call = HookCall("bench", "pre", "transform", "chat", PROMPT, variables, 30.0)
    _, text = text_class()
    resources = Resources()
    ws_transport = transports.get("websocket")(FunctionSpec("ws", "websocket", {"url": ws_url}), resources)
    grpc_options = {k: v for k, v in functions["grpc"].items() if k != "type"}
    grpc_transport = transports.get("grpc")(FunctionSpec("grpc", "grpc", grpc_options), resources)

    async with (
        connect(ws_url) as websocket,
        grpc.aio.insecure_channel(address) as channel,
        Pipeline.from_dict(composition(functions, "ws")) as ws_pipeline,
        Pipeline.from_dict(composition(functions, "grpc")) as grpc_pipeline,
        Pipeline.from_dict(composition(functions, None)) as plain_pipeline,
    ):
        stub = channel.unary_unary(
            f"/{SERVICE}/{METHOD}",
            request_serializer=text.SerializeToString,
            response_deserializer=text.FromString,
        )

        async def ws_direct() -> str:
            await websocket.send(PROMPT)
            return str(await websocket.recv())

        async def grpc_direct() -> str:
            reply = await stub(text(text=PROMPT), timeout=30.0)
            return str(reply.text)

        async def via(transport: Any) -> str:
            return str(await transport.call(hook_call))

        async def through(pipeline: Any) -> str:
            return str((await pipeline.run(PROMPT)).output)

        modes: dict[str, CallFn] = {
            "websocket direct": ws_direct,
            "websocket transport": lambda: via(ws_transport),
            "websocket hook": lambda: through(ws_pipeline),
            "grpc direct": grpc_direct,
            "grpc transport": lambda: via(grpc_transport),
            "grpc hook": lambda: through(grpc_pipeline),
            "no hook": lambda: through(plain_pipeline),
        }
        for name, call in modes.items():  # every mode must give the prompt back, then warm up
            answer = await call()
            if answer != PROMPT:
                raise RuntimeError(f"{name}: unexpected answer {answer!r}")
            await timed_calls(call, WARMUP, time.perf_counter() + budget / 4)
        per_round = max(1, count // rounds)

        def batch(call: CallFn) -> Awaitable[list[float]]:
            return timed_calls(call, per_round, time.perf_counter() + budget / rounds)

        batches = await in_rounds(modes, rounds, batch)
    await resources.aclose()
    return {name: [x for batch in runs for x in batch] for name, runs in batches.items()}


def report(samples: dict[str, list[float]]) -> None:
    """Print the table and what llmnet adds to each transport's calls."""
    stats = latency_table(samples, width=22)
    print()
    plain = stats["no hook"]
    for transport in ("websocket", "grpc"):
        direct, via, hook = (stats[f"{transport} {mode}"] for mode in ("direct", "transport", "hook"))
        added = via[0] - direct[0]
        hook_added = (hook[0] - plain[0]) - direct[0]
        verdict = "within" if max(added, hook_added) <= TARGET_MS else "OVER"
        print(
            f"{transport}: transport.call adds {added:+.3f} ms median ({via[1] - direct[1]:+.3f} ms p90) "
            f"over the direct call; a transform hook in a pipeline costs {hook[0] - plain[0]:.3f} ms median, "
            f"{hook_added:+.3f} ms over the direct call ({verdict} the {TARGET_MS:g} ms target)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=None, help="measured calls per mode [2000; --quick 300]")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds [default: 4]")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds allowed per mode [default: 6; --quick: 2]"
    )
    args = parser.parse_args(argv)
    count = args.calls or (300 if args.quick else 2000)
    budget = args.budget or (2.0 if args.quick else 6.0)
    if count < 1 or args.rounds < 1 or budget <= 0:
        parser.error("--calls, --rounds and --budget must be positive")
    print(
        f"python {sys.version.split()[0]}; {count} calls per mode in {args.rounds} interleaved rounds, "
        "concurrency 1"
    )
    started = time.perf_counter()
    with spawned_peer(_serving, "the peers") as (ws_port, grpc_port):
        samples = asyncio.run(run_benchmark(ws_port, grpc_port, count, args.rounds, budget))
    print()
    report(samples)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
