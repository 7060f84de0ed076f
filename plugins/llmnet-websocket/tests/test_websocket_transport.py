"""The `websocket` transport against a real `websockets` server on 127.0.0.1: unit-level calls, and hooks
and `ws` nodes in real pipelines whose model is the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_testing import REPLY_CASES, free_port, hook_composition
from llmnet_websocket.transport import WebSocketTransport

from llmnet_core import (
    CompositionError,
    FunctionSpec,
    HookCall,
    Pipeline,
    PipelineError,
    Resources,
    StepTimeoutError,
    TransportError,
    TransportTimeoutError,
    decode_reply,
)
from llmnet_core.cli import cli


def make(
    resources: Resources, name: str = "audit", timeout: float = 5.0, **options: Any
) -> WebSocketTransport:
    return WebSocketTransport(FunctionSpec(name, "websocket", options, timeout), resources)


#: the peer's behaviour answers this to close the connection instead of replying (see conftest.py)
CLOSE = "\x00close"


def hook_call(data: str = "hello there", mode: str = "transform", **variables: str) -> HookCall:
    values = {"INPUT": data, "NODE": "chat", "WORD_COUNT": str(len(data.split())), **variables}
    return HookCall("audit", "pre", mode, "chat", data, values, 5.0)


def composition(model_url: str, functions: dict[str, Any], pre: Any = (), post: Any = ()) -> dict[str, Any]:
    return hook_composition(model_url, functions, "websocket", pre, post)


# -- unit level ----------------------------------------------------------------------------------------


async def test_transform_returns_text_and_json_replies(ws_peer, resources) -> None:
    peer = await ws_peer(lambda m: '{"label": "greeting"}' if m.startswith("hello") else m.upper())
    transport = make(resources, url=peer.url)
    assert await transport.call(hook_call("hello there")) == {"label": "greeting"}
    assert await transport.call(hook_call("other words")) == "OTHER WORDS"
    assert peer.received == ["hello there", "other words"]
    assert peer.paths == ["/hooks"]


async def test_a_reply_means_what_it_means_over_every_transport(ws_peer, resources) -> None:
    peer = await ws_peer(lambda message: REPLY_CASES[int(message)][0])
    transport = make(resources, url=peer.url)
    for index, (reply, expected) in enumerate(REPLY_CASES):
        assert await transport.call(hook_call(str(index))) == expected == decode_reply(reply), reply


async def test_json_template_stays_valid_whatever_the_input(ws_peer, resources) -> None:
    peer = await ws_peer(lambda m: "ok")
    tricky = 'he said "stop" \\ now\nplease'
    as_object = make(resources, url=peer.url, message={"text": "$INPUT", "node": "$NODE", "n": "$WORD_COUNT"})
    as_text = make(resources, url=peer.url, message='{"text": "$INPUT", "node": "$NODE"}')
    plain = make(resources, url=peer.url, message="[$NODE] $INPUT")
    for transport in (as_object, as_text, plain):
        await transport.call(hook_call(tricky))
    first, second, third = peer.received
    assert json.loads(first) == {"text": tricky, "node": "chat", "n": "6"}
    assert json.loads(second) == {"text": tricky, "node": "chat"}
    assert third == f"[chat] {tricky}"


async def test_headers_are_sent_on_connect(ws_peer, resources) -> None:
    peer = await ws_peer(lambda m: "ok")
    transport = make(resources, url=peer.url, headers={"Authorization": "Bearer t0k3n", "X-Team": "qa"})
    await transport.call(hook_call())
    assert peer.headers[0]["authorization"] == "Bearer t0k3n"
    assert peer.headers[0]["x-team"] == "qa"


async def test_a_refused_handshake_names_the_http_status(ws_peer, resources) -> None:
    def authorize(connection: Any, request: Any) -> Any:
        if request.headers.get("Authorization") != "Bearer right":
            return connection.respond(403, "forbidden\n")
        return None

    peer = await ws_peer(lambda m: "welcome", process_request=authorize)
    wrong = make(resources, url=peer.url, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(TransportError) as caught:
        await wrong.call(hook_call())
    assert caught.value.message.endswith("refused the WebSocket handshake (HTTP 403)")
    assert "Bearer" not in str(caught.value)
    right = make(resources, url=peer.url, headers={"Authorization": "Bearer right"})
    assert await right.call(hook_call()) == "welcome"


async def test_connection_is_reused_and_replaced_once_when_the_peer_closed_it(ws_peer, resources) -> None:
    peer = await ws_peer(lambda m: f"re: {m}")
    transport = make(resources, url=peer.url)
    assert await transport.call(hook_call("one")) == "re: one"
    assert await transport.call(hook_call("two")) == "re: two"
    assert peer.connections == 1
    await peer.close_connections()  # the peer restarts or idles the connection out
    assert await transport.call(hook_call("three")) == "re: three"
    assert peer.connections == 2
    assert peer.received == ["one", "two", "three"]


async def test_observe_messages_use_their_own_connection(ws_peer, resources) -> None:
    peer = await ws_peer(lambda m: f"re: {m}")  # it answers observe messages too: they must be dropped
    transport = make(resources, url=peer.url)
    await transport.call(hook_call("noted", mode="observe"))
    await peer.wait_for_messages(1)
    assert await transport.call(hook_call("asked")) == "re: asked"
    await peer.close_connections()
    await transport.call(hook_call("noted again", mode="observe"))  # reconnects once
    assert await transport.call(hook_call("asked again")) == "re: asked again"
    await peer.wait_for_messages(4)
    assert peer.connections == 4


async def test_refused_connection_names_the_function_and_peer(resources) -> None:
    url = f"ws://127.0.0.1:{free_port()}/hooks"
    with pytest.raises(TransportError) as caught:
        await make(resources, url=url).call(hook_call())
    assert (
        caught.value.message
        == f'function "audit": WebSocket peer {url} could not be reached (connection refused)'
    )
    assert "functions.audit.url" in (caught.value.hint or "")


async def test_timeout_drops_the_connection_so_a_late_reply_is_never_used(ws_peer, resources) -> None:
    async def behaviour(message: str) -> str:
        if message == "slow":
            await asyncio.sleep(0.6)
            return "late reply to slow"
        return f"reply to {message}"

    peer = await ws_peer(behaviour)
    transport = make(resources, timeout=0.2, url=peer.url)
    with pytest.raises(TransportTimeoutError, match=r"sent no reply within 0\.2 s") as caught:
        await transport.call(hook_call("slow"))
    assert isinstance(caught.value, TransportError) and isinstance(caught.value, StepTimeoutError)
    assert await transport.call(hook_call("fast")) == "reply to fast"
    assert peer.connections == 2


async def test_a_peer_that_never_completes_the_handshake_is_a_timeout(resources) -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()  # accept the TCP connection, then never answer the WebSocket handshake
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportTimeoutError) as caught:
            await make(resources, timeout=0.3, url=f"ws://127.0.0.1:{port}/hooks").call(hook_call())
    finally:
        server.close()
    assert accepted.is_set()
    assert caught.value.message.endswith("did not accept the connection in time")
    assert "functions.audit.url" in (caught.value.hint or "")


async def test_secrets_in_the_url_stay_out_of_messages(resources) -> None:
    url = f"ws://user:hunter2@127.0.0.1:{free_port()}/hooks?token=hunter2"
    with pytest.raises(TransportError) as caught:
        await make(resources, url=url).call(hook_call())
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "functions.audit.url: is required"),
        ({"url": "http://127.0.0.1/x"}, "functions.audit.url: 'http://127.0.0.1/x' is not a WebSocket URL"),
        (
            {"url": "ws://h/", "headers": {"X-N": 1}},
            "functions.audit.headers.X-N: Input should be a valid string",
        ),
    ],
)
def test_bad_options_are_reported_with_their_place(resources, options, expected) -> None:
    with pytest.raises(TransportError) as caught:
        make(resources, **options)
    assert caught.value.message.startswith(expected)
    assert "url, headers, message" in (caught.value.hint or "")
    problems = WebSocketTransport.check(FunctionSpec("audit", "websocket", options))
    assert [f"{p.path}: {p.message}" for p in problems] == [caught.value.message]


def test_validate_reports_a_bad_field_with_its_path(host, write_composition) -> None:
    data = {
        "models": {"m": {"type": "external", "url": "http://127.0.0.1:9"}},
        "functions": {"audit": {"type": "websocket", "url": "http://127.0.0.1/x", "max-connections": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "hooks": {"pre": [{"function": "audit"}]}},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = CliRunner().invoke(cli, ["validate", str(write_composition(data))])
    assert result.exit_code == 2
    assert "functions.audit.url: 'http://127.0.0.1/x' is not a WebSocket URL" in result.stderr
    assert "functions.audit.max-connections: Input should be greater than or equal to 1" in result.stderr


# -- in pipelines ---------------------------------------------------------------------------------------


async def test_observe_hook_passes_data_through_and_the_peer_receives_it(ws_peer, echo_model) -> None:
    peer = await ws_peer(lambda m: "SHOULD BE IGNORED")
    data = composition(
        echo_model.url,
        {"audit": {"url": peer.url, "message": {"event": "pre", "text": "$INPUT"}}},
        pre=[{"function": "audit", "mode": "observe"}],
    )
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("where is my parcel")
    assert result.output == "model saw: where is my parcel"
    assert [json.loads(m) for m in await peer.wait_for_messages(1)] == [
        {"event": "pre", "text": "where is my parcel"}
    ]
    (outcome,) = result.trace.hops[0].hooks
    assert (outcome.mode, outcome.status) == ("observe", "ok")


async def test_pre_hook_transform_changes_what_the_model_sees(ws_peer, echo_model) -> None:
    peer = await ws_peer(lambda m: m.upper())
    data = composition(
        echo_model.url, {"shout": {"url": peer.url}}, pre=[{"function": "shout", "mode": "transform"}]
    )
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("quiet please")
    assert echo_model.chat_requests[0].json["messages"][-1]["content"] == "QUIET PLEASE"
    assert result.output == "model saw: QUIET PLEASE"


async def test_post_hook_transform_replaces_the_output_with_json(ws_peer, echo_model) -> None:
    peer = await ws_peer(lambda m: json.dumps({"reviewed": json.loads(m)["answer"], "ok": True}))
    data = composition(
        echo_model.url,
        {"review": {"url": peer.url, "message": {"answer": "$OUTPUT", "question": "$INPUT"}}},
        post=[{"function": "review", "mode": "transform"}],
    )
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("is it late")
    assert json.loads(result.output) == {"reviewed": "model saw: is it late", "ok": True}
    assert json.loads(peer.received[0])["question"] == "is it late"


async def test_three_transforms_chain_in_order(ws_peer, echo_model) -> None:
    def behaviour(message: str) -> str:
        request = json.loads(message)
        text = request["text"]
        return {"strip": text.strip(), "upper": text.upper(), "tag": f"<{text}>"}[request["op"]]

    peer = await ws_peer(behaviour)
    functions = {
        op: {"url": peer.url, "message": {"op": op, "text": "$INPUT"}} for op in ("strip", "upper", "tag")
    }
    hooks = [{"function": op, "mode": "transform"} for op in ("strip", "upper", "tag")]
    async with Pipeline.from_dict(composition(echo_model.url, functions, pre=hooks)) as pipeline:
        result = await pipeline.run("   mixed Case   ")
    assert result.output == "model saw: <MIXED CASE>"
    assert [json.loads(m)["op"] for m in peer.received] == ["strip", "upper", "tag"]
    assert peer.connections == 1  # three functions, one URL: one shared connection


@pytest.mark.parametrize("policy", ["continue", "abort"])
async def test_a_peer_that_closes_the_socket_continues_or_aborts(ws_peer, echo_model, policy) -> None:
    peer = await ws_peer(lambda m: CLOSE)
    hook = {"function": "check", "mode": "transform", "on_failure": policy}
    data = composition(echo_model.url, {"check": {"url": peer.url}}, pre=[hook])
    async with Pipeline.from_dict(data) as pipeline:
        if policy == "abort":
            with pytest.raises(PipelineError) as caught:
                await pipeline.run("hello")
            assert 'pre-hook "check" (websocket) failed' in caught.value.message
            assert (
                f"WebSocket peer {peer.url} closed the connection (code 1011: peer gave up)"
                in caught.value.message
            )
            assert echo_model.chat_requests == []
        else:
            result = await pipeline.run("hello")
            assert result.output == "model saw: hello"
            (outcome,) = result.trace.hops[0].hooks
            assert outcome.status == "failed"
            assert "closed the connection" in (outcome.error or "")
    assert peer.received == ["hello"]


async def test_refused_peer_with_abort_stops_the_request(echo_model) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    hook = {"function": "check", "mode": "transform", "on_failure": "abort"}
    async with Pipeline.from_dict(
        composition(echo_model.url, {"check": {"url": url}}, pre=[hook])
    ) as pipeline:
        with pytest.raises(PipelineError, match="could not be reached"):
            await pipeline.run("hello")
    assert echo_model.chat_requests == []


async def test_conditional_hook_runs_only_for_long_inputs(ws_peer, echo_model) -> None:
    peer = await ws_peer(lambda m: f"[long] {m}")
    hook = {"function": "tag", "mode": "transform", "if": "$WORD_COUNT > 3"}
    async with Pipeline.from_dict(
        composition(echo_model.url, {"tag": {"url": peer.url}}, pre=[hook])
    ) as pipeline:
        short = await pipeline.run("just three words")
        long = await pipeline.run("this one has five words")
    assert short.output == "model saw: just three words"
    assert short.trace.hops[0].hooks[0].status == "skipped"
    assert long.output == "model saw: [long] this one has five words"
    assert peer.received == ["this one has five words"]


async def test_a_slow_peer_times_out_and_the_request_continues(ws_peer, echo_model) -> None:
    async def slow(message: str) -> str:
        await asyncio.wait_for(peer.release.wait(), 5)
        return "too late"

    peer = await ws_peer(slow)
    data = composition(
        echo_model.url,
        {"slow": {"url": peer.url, "timeout": 0.2}},
        pre=[{"function": "slow", "mode": "transform"}],
    )
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("hello")
    assert result.output == "model saw: hello"
    (outcome,) = result.trace.hops[0].hooks
    # the engine's timeout fires first, unless a stalled event loop lets the transport's own bound win:
    # either way the hook timed out
    assert outcome.status == "timeout"
    assert outcome.error == "no answer within 0.2 s" or "sent no reply within 0.2 s" in (outcome.error or "")


async def test_one_connection_serves_many_pipeline_runs(ws_peer, echo_model) -> None:
    peer = await ws_peer(lambda m: f"<{m}>")
    functions = {"wrap": {"url": peer.url, "headers": {"X-Client": "llmnet-test"}}}
    hooks = [{"function": "wrap", "mode": "transform"}]
    async with Pipeline.from_dict(composition(echo_model.url, functions, pre=hooks, post=hooks)) as pipeline:
        outputs = [(await pipeline.run(f"request {i}")).output for i in range(5)]
    assert outputs == [f"<model saw: <request {i}>>" for i in range(5)]
    assert len(peer.received) == 10
    assert peer.connections == 1
    assert peer.headers == [{**peer.headers[0], "x-client": "llmnet-test"}]


async def test_concurrent_requests_never_mix_up_replies(ws_peer, echo_model) -> None:
    async def behaviour(message: str) -> str:
        await asyncio.sleep(0.01 * (hash(message) % 3))
        return f"reply:{message}"

    peer = await ws_peer(behaviour)
    functions = {"tag": {"url": peer.url, "max-connections": 3}}
    hooks = [{"function": "tag", "mode": "transform"}, {"function": "tag", "mode": "observe"}]
    async with Pipeline.from_dict(composition(echo_model.url, functions, pre=hooks)) as pipeline:
        results = await asyncio.gather(*(pipeline.run(f"q{i}") for i in range(12)))
    assert [r.output for r in results] == [f"model saw: reply:q{i}" for i in range(12)]
    assert peer.connections <= 4  # at most 3 for exchanges, plus the observe connection


async def test_ws_node_delegates_to_its_peer(ws_peer, echo_model) -> None:
    peer = await ws_peer(lambda m: f"peer answered: {m[::-1]}")
    data = {
        "models": {"m": {"type": "external", "url": echo_model.url}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": [1]},
            {"name": "remote", "layer": 1, "adapter": "ws", "url": peer.url, "output-to": [2]},
            {"name": "output", "layer": 2, "adapter": "output"},
        ],
    }
    async with Pipeline.from_dict(data) as pipeline:
        first = await pipeline.run("abc")
        second = await pipeline.run("xyz")
    assert first.output == "peer answered: cba"
    assert second.output == "peer answered: zyx"
    assert first.trace.path == ["entry", "remote", "output"]
    assert peer.received == ["abc", "xyz"]
    assert peer.connections == 1
    assert echo_model.chat_requests == []  # the entry's only target needed no routing call


async def test_ws_node_failure_names_the_node(echo_model) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    data = {
        "models": {"m": {"type": "external", "url": echo_model.url}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": ["remote"]},
            {"name": "remote", "layer": 1, "adapter": "ws", "url": url, "output-to": ["output"]},
            {"name": "output", "layer": 2, "adapter": "output"},
        ],
    }
    async with Pipeline.from_dict(data) as pipeline:
        with pytest.raises(TransportError) as caught:
            await pipeline.run("abc")
    assert caught.value.message.startswith(f'node "remote": WebSocket peer {url} could not be reached')


async def test_ws_node_with_a_non_websocket_url_is_refused_by_validation(echo_model) -> None:
    data = {
        "models": {"m": {"type": "external", "url": echo_model.url}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": ["remote"]},
            {"name": "remote", "layer": 1, "adapter": "ws", "url": echo_model.url, "output-to": ["output"]},
            {"name": "output", "layer": 2, "adapter": "output"},
        ],
    }
    with pytest.raises(CompositionError) as caught:
        Pipeline.from_dict(data)
    [problem] = caught.value.problems
    assert problem.path == "architecture[1].url"
    assert problem.message.startswith(f"'{echo_model.url}' is not a WebSocket URL")
    assert echo_model.requests == []


async def test_ws_node_without_a_url_is_refused_by_validation(echo_model) -> None:
    data = {
        "models": {"m": {"type": "external", "url": echo_model.url}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "m", "output-to": ["remote"]},
            {"name": "remote", "layer": 1, "adapter": "ws", "output-to": ["output"]},
            {"name": "output", "layer": 2, "adapter": "output"},
        ],
    }
    with pytest.raises(CompositionError) as caught:
        Pipeline.from_dict(data)
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("architecture[1].url", "a ws node needs the url of its peer")
    ]
