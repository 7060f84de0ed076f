"""The `grpc` transport against real grpc.aio servers on 127.0.0.1 (with and without reflection, with TLS):
unit-level calls, and hooks in real pipelines whose model is the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from llmnet_grpc.transport import GrpcTransport
from llmnet_testing import REPLY_CASES, free_port, hook_composition

from llmnet_core import (
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

PROTOS = Path(__file__).parent / "protos"
ENRICHER_PROTO = PROTOS / "demo" / "enricher.proto"
ENRICH = {"service": "demo.Enricher", "method": "Enrich"}


def enrich(request: dict[str, Any], context: Any) -> dict[str, Any]:
    """The demo server's default behaviour: applies `op` to `text` and tags the reply."""
    text = request.get("text", "")
    op = request.get("op", "")
    result = {"upper": text.upper(), "strip": text.strip(), "tag": f"<{text}>"}.get(op, text)
    return {"text": result, "tags": ["enriched", op or "none"], "length": len(result)}


def make(resources: Resources, name: str = "enrich", timeout: float = 5.0, **options: Any) -> GrpcTransport:
    return GrpcTransport(FunctionSpec(name, "grpc", {**ENRICH, **options}, timeout), resources)


def hook_call(data: str = "hello there", **variables: str) -> HookCall:
    values = {"INPUT": data, "NODE": "chat", "WORD_COUNT": str(len(data.split())), "REQUEST_ID": "r-1"}
    return HookCall("enrich", "pre", "transform", "chat", data, {**values, **variables}, 5.0)


def closed_address() -> str:
    return f"127.0.0.1:{free_port()}"


def composition(model_url: str, functions: dict[str, Any], pre: Any = (), post: Any = ()) -> dict[str, Any]:
    functions = {name: {**ENRICH, **f} for name, f in functions.items()}
    return hook_composition(model_url, functions, "grpc", pre, post)


# -- descriptors: reflection, descriptor set, proto file ------------------------------------------------


async def test_reflection_describes_the_method_and_metadata_reaches_the_server(grpc_peer, resources) -> None:
    peer = await grpc_peer(enrich)
    transport = make(
        resources,
        address=peer.address,
        request={
            "text": "$INPUT",
            "op": "upper",
            "meta": {"request_id": "$REQUEST_ID", "words": "$WORD_COUNT"},
        },
        metadata={"X-Request-Id": "$REQUEST_ID", "authorization": "Bearer abc"},
    )
    reply = await transport.call(hook_call("hello there"))
    assert reply == {"text": "HELLO THERE", "tags": ["enriched", "upper"], "length": 11}
    assert peer.requests == [
        {"text": "hello there", "op": "upper", "meta": {"request_id": "r-1", "words": 2}}
    ]
    assert peer.metadata[0]["x-request-id"] == "r-1"
    assert peer.metadata[0]["authorization"] == "Bearer abc"
    # the method is resolved once per channel: later calls reuse it, and other functions share the channel
    other = make(resources, name="other", address=peer.address, request={"text": "$NODE"})
    assert (await other.call(hook_call()))["text"] == "chat"
    assert transport.channel() is other.channel()
    assert len(transport.channel().methods) == 1


async def test_descriptor_set_file_without_reflection(grpc_peer, resources, demo) -> None:
    peer = await grpc_peer(enrich, reflection_on=False)
    transport = make(
        resources,
        address=peer.address,
        request={"text": "$INPUT", "op": "tag"},
        **{"descriptor-set": str(demo.descriptor_set)},
    )
    assert (await transport.call(hook_call("x")))["text"] == "<x>"


async def test_proto_file_without_reflection(grpc_peer, resources) -> None:
    peer = await grpc_peer(enrich, reflection_on=False)
    transport = make(
        resources,
        address=peer.address,
        proto=str(ENRICHER_PROTO),
        request={"text": "$INPUT", "sent_at": "2024-05-01T10:00:00Z"},
        **{"import-paths": [str(PROTOS)], "reply-field": "text"},
    )
    assert await transport.call(hook_call("plain")) == "plain"
    assert peer.requests[0]["sent_at"] == "2024-05-01T10:00:00Z"


async def test_relative_proto_paths_start_from_the_composition_folder(
    grpc_peer, resources, monkeypatch, tmp_path
) -> None:
    peer = await grpc_peer(enrich, reflection_on=False)
    monkeypatch.chdir(tmp_path)  # llmnet started elsewhere: the spec's folder counts
    options = {**ENRICH, "address": peer.address, "proto": "demo/enricher.proto", "import-paths": ["."]}
    transport = GrpcTransport(FunctionSpec("enrich", "grpc", options, 5.0, base_dir=PROTOS), resources)
    assert (await transport.call(hook_call()))["tags"] == ["enriched", "none"]


async def test_a_composition_file_with_a_relative_proto(grpc_peer, echo_model, tmp_path, monkeypatch) -> None:
    peer = await grpc_peer(enrich, reflection_on=False)
    project = tmp_path / "project"
    shutil.copytree(PROTOS, project / "protos")
    functions = {
        "tag": {
            "address": peer.address,
            "proto": "protos/demo/enricher.proto",
            "reply-field": "text",
            "import-paths": ["protos"],
            "request": {"text": "$INPUT", "op": "upper"},
        }
    }
    data = composition(echo_model.url, functions, pre=[{"function": "tag", "mode": "transform"}])
    (project / "pipeline.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    async with Pipeline.from_file(project / "pipeline.json") as pipeline:
        result = await pipeline.run("hello")
    assert result.output == "model saw: HELLO"
    assert peer.requests[0]["text"] == "hello"


async def test_server_without_reflection_and_no_proto_says_what_to_add(grpc_peer, resources) -> None:
    peer = await grpc_peer(enrich, reflection_on=False)
    with pytest.raises(TransportError) as caught:
        await make(resources, address=peer.address).call(hook_call())
    assert caught.value.message.startswith(
        f'function "enrich": gRPC {peer.address} /demo.Enricher/Enrich: '
        "the server offers no reflection service"
    )
    assert '"proto"' in (caught.value.hint or "")


async def test_unknown_service_lists_what_the_server_offers(grpc_peer, resources) -> None:
    peer = await grpc_peer(enrich)
    transport = make(resources, address=peer.address, service="demo.Enrichr")
    with pytest.raises(
        TransportError, match=r"does not offer service demo\.Enrichr \(services: demo\.Enricher\)"
    ):
        await transport.call(hook_call())


async def test_streaming_and_unknown_methods_are_refused(grpc_peer, resources) -> None:
    peer = await grpc_peer(enrich)
    with pytest.raises(TransportError, match="Watch streams; only unary methods"):
        await make(resources, address=peer.address, method="Watch").call(hook_call())
    lookup = r"functions\.enrich: service demo\.Enricher has no method Enrch"
    with pytest.raises(TransportError, match=lookup):
        make(
            resources,
            address=peer.address,
            method="Enrch",
            proto=str(ENRICHER_PROTO),
            **{"import-paths": [str(PROTOS)]},
        )


async def test_a_broken_proto_file_is_reported_with_protocs_message(tmp_path, resources) -> None:
    broken = tmp_path / "broken.proto"
    broken.write_text('syntax = "proto3";\nmessage Broken { string text = 1 }\n')
    with pytest.raises(TransportError) as caught:
        make(resources, address="127.0.0.1:1", proto=str(broken))
    assert caught.value.message.startswith(f"functions.enrich.proto: protoc could not compile {broken}: ")
    assert "broken.proto:2" in caught.value.message
    with pytest.raises(
        TransportError, match=r"functions\.enrich\.descriptor-set: not a serialized FileDescriptorSet"
    ):
        make(resources, address="127.0.0.1:1", **{"descriptor-set": str(broken)})
    with pytest.raises(TransportError, match=r"functions\.enrich\.proto: cannot read .*missing\.proto"):
        make(resources, address="127.0.0.1:1", proto=str(tmp_path / "missing.proto"))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"service": None}, "functions.enrich.service: is required"),
        (
            {"address": "http://127.0.0.1:50051"},
            "functions.enrich.address: 'http://127.0.0.1:50051': write host:port",
        ),
        ({"method": "demo/Enrich"}, "functions.enrich.method: 'demo/Enrich' is not a method name"),
        ({"tls": {"cert-file": "c.pem"}}, "functions.enrich.tls: cert-file and key-file go together"),
        ({"tls": {"ca_fil": "c.pem"}}, "functions.enrich.tls.ca_fil: unknown field"),
        ({"metadata": {"bad key": "v"}}, "functions.enrich.metadata: 'bad key' is not a usable metadata key"),
        (
            {"proto": "a.proto", "descriptor-set": "a.pb"},
            "functions.enrich: give either proto or descriptor-set",
        ),
    ],
)
def test_bad_options_are_reported_with_their_place(resources, options, expected) -> None:
    options = {"address": "127.0.0.1:1", **options}
    spec_options = {**ENRICH, **{k: v for k, v in options.items() if v is not None}}
    for key in [k for k, v in options.items() if v is None]:
        spec_options.pop(key)
    with pytest.raises(TransportError) as caught:
        GrpcTransport(FunctionSpec("enrich", "grpc", spec_options, 5.0), resources)
    assert caught.value.message.startswith(expected)
    assert caught.value.message.count("functions.enrich") == 1
    problems = GrpcTransport.check(FunctionSpec("enrich", "grpc", spec_options, 5.0))
    assert [f"{p.path}: {p.message}" for p in problems] == [caught.value.message]


def test_validate_reports_bad_fields_before_any_call(host, write_composition) -> None:
    functions = {"tag": {"address": "http://127.0.0.1:1", "metadata": {"bad key": "v"}}}
    data = composition("http://127.0.0.1:9", functions, pre=[{"function": "tag", "mode": "transform"}])
    result = CliRunner().invoke(cli, ["validate", str(write_composition(data))])
    assert result.exit_code == 2
    assert "error   functions.tag.address: 'http://127.0.0.1:1': write host:port" in result.stderr
    assert "error   functions.tag.metadata: 'bad key' is not a usable metadata key" in result.stderr


# -- replies and failures ---------------------------------------------------------------------------------


async def test_request_that_does_not_fit_the_message(grpc_peer, resources) -> None:
    peer = await grpc_peer(enrich)
    transport = make(resources, address=peer.address, request={"txt": "$INPUT"})
    with pytest.raises(TransportError, match=r"the request does not fit demo\.EnrichRequest: .*txt"):
        await transport.call(hook_call())
    assert peer.requests == []


async def test_status_errors_name_the_status_and_details(grpc_peer, resources) -> None:
    async def refuse(request: dict[str, Any], context: Any) -> dict[str, Any]:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text must not be empty")
        return {}

    peer = await grpc_peer(refuse)
    with pytest.raises(TransportError) as caught:
        await make(resources, address=peer.address).call(hook_call())
    assert caught.value.message.endswith("failed with status INVALID_ARGUMENT (text must not be empty)")
    assert "functions.enrich.request" in (caught.value.hint or "")


async def test_deadline_is_the_function_timeout(grpc_peer, resources) -> None:
    async def slow(request: dict[str, Any], context: Any) -> dict[str, Any]:
        await asyncio.wait_for(peer.release.wait(), 5)
        return {"text": "late"}

    peer = await grpc_peer(slow, reflection_on=False)
    transport = make(
        resources,
        timeout=0.3,
        address=peer.address,
        proto=str(ENRICHER_PROTO),
        **{"import-paths": [str(PROTOS)]},
    )
    with pytest.raises(TransportTimeoutError, match="failed with status DEADLINE_EXCEEDED") as caught:
        await transport.call(hook_call())
    assert isinstance(caught.value, TransportError) and isinstance(caught.value, StepTimeoutError)
    assert "raise functions.enrich.timeout" in (caught.value.hint or "")


async def test_unavailable_server(resources) -> None:
    address = closed_address()
    with pytest.raises(TransportError) as caught:
        await make(resources, address=address).call(hook_call())
    assert f"gRPC {address} /demo.Enricher/Enrich: failed with status UNAVAILABLE" in caught.value.message
    assert "is the server running" in (caught.value.hint or "")
    assert not isinstance(caught.value, StepTimeoutError)  # refused at once: a failure, not a timeout


async def test_empty_reply_means_no_change(grpc_peer, resources) -> None:
    peer = await grpc_peer(lambda request, context: {})
    reply = await make(resources, address=peer.address, request={"text": "$INPUT"}).call(hook_call())
    assert reply == {"text": "", "tags": [], "length": 0}  # fields without presence are always shown
    missing = make(resources, name="f2", address=peer.address, **{"reply-field": "nope"})
    with pytest.raises(
        TransportError, match=r"the response has no field nope \(fields: text, tags, length\)"
    ):
        await missing.call(hook_call())


async def test_a_text_reply_field_means_what_it_means_over_every_transport(grpc_peer, resources) -> None:
    def answer(request: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"text": REPLY_CASES[int(request["text"])][0], "length": 7}

    peer = await grpc_peer(answer)
    request = {"text": "$INPUT"}
    transport = make(resources, address=peer.address, request=request, **{"reply-field": "text"})
    for index, (reply, expected) in enumerate(REPLY_CASES):
        assert await transport.call(hook_call(str(index))) == expected == decode_reply(reply), reply
    number = make(resources, name="n", address=peer.address, request=request, **{"reply-field": "length"})
    assert await number.call(hook_call("0")) == "7"  # a number is its JSON text


# -- TLS -------------------------------------------------------------------------------------------------


async def test_tls_with_a_private_ca_and_server_name(grpc_peer, resources, certificates) -> None:
    peer = await grpc_peer(enrich, tls=certificates.server_credentials())
    tls = {"ca-file": str(certificates.ca), "server-name": certificates.server_name}
    transport = make(resources, address=peer.address, tls=tls, request={"text": "$INPUT", "op": "upper"})
    assert (await transport.call(hook_call("secure")))["text"] == "SECURE"
    by_ip = make(resources, name="by-ip", address=peer.address, tls={"ca-file": str(certificates.ca)})
    assert (await by_ip.call(hook_call()))["tags"] == ["enriched", "none"]  # the certificate names 127.0.0.1


async def test_mutual_tls(grpc_peer, resources, certificates) -> None:
    peer = await grpc_peer(enrich, tls=certificates.server_credentials(require_client_auth=True))
    tls = {"ca-file": str(certificates.ca), "cert-file": str(certificates.client_cert)}
    tls["key-file"] = str(certificates.client_key)
    transport = make(resources, address=peer.address, tls=tls, request={"text": "$INPUT"})
    assert (await transport.call(hook_call("mtls")))["text"] == "mtls"
    without_cert = make(
        resources, name="anonymous", address=peer.address, tls={"ca-file": str(certificates.ca)}
    )
    with pytest.raises(TransportError, match="UNAVAILABLE"):
        await without_cert.call(hook_call())


async def test_tls_against_an_untrusted_certificate_or_a_plaintext_server(
    grpc_peer, resources, certificates
) -> None:
    secure = await grpc_peer(enrich, tls=certificates.server_credentials())
    with pytest.raises(TransportError, match="UNAVAILABLE"):
        await make(resources, address=secure.address, tls=True).call(hook_call())  # system roots only
    plain = await grpc_peer(enrich)
    with pytest.raises(TransportError, match="UNAVAILABLE"):
        await make(resources, name="p", address=plain.address, tls={"ca-file": str(certificates.ca)}).call(
            hook_call()
        )
    with pytest.raises(TransportError, match=r"functions\.enrich\.tls\.ca-file: cannot read"):
        make(resources, address=plain.address, tls={"ca-file": str(certificates.ca) + ".missing"})


# -- in pipelines ------------------------------------------------------------------------------------------


async def test_observe_hook_passes_data_through_and_the_server_receives_it(grpc_peer, echo_model) -> None:
    peer = await grpc_peer(enrich)
    functions = {"audit": {"address": peer.address, "request": {"text": "$INPUT", "op": "upper"}}}
    data = composition(echo_model.url, functions, pre=[{"function": "audit", "mode": "observe"}])
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("keep me as I am")
    assert result.output == "model saw: keep me as I am"
    assert (await peer.wait_for_requests(1))[0]["text"] == "keep me as I am"
    assert result.trace.hops[0].hooks[0].status == "ok"


async def test_pre_hook_transform(grpc_peer, echo_model) -> None:
    peer = await grpc_peer(enrich)
    functions = {
        "up": {"address": peer.address, "request": {"text": "$INPUT", "op": "upper"}, "reply-field": "text"}
    }
    data = composition(echo_model.url, functions, pre=[{"function": "up", "mode": "transform"}])
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("louder")
    assert echo_model.chat_requests[0].json["messages"][-1]["content"] == "LOUDER"
    assert result.output == "model saw: LOUDER"


async def test_post_hook_transform_returns_the_response_as_json(grpc_peer, echo_model) -> None:
    peer = await grpc_peer(enrich)
    functions = {"tagger": {"address": peer.address, "request": {"text": "$OUTPUT", "op": "tag"}}}
    data = composition(echo_model.url, functions, post=[{"function": "tagger", "mode": "transform"}])
    async with Pipeline.from_dict(data) as pipeline:
        result = await pipeline.run("hi")
    assert json.loads(result.output) == {"text": "<model saw: hi>", "tags": ["enriched", "tag"], "length": 15}


async def test_three_transforms_chain_in_order(grpc_peer, echo_model) -> None:
    peer = await grpc_peer(enrich)
    ops = ("strip", "upper", "tag")
    functions = {
        op: {"address": peer.address, "request": {"text": "$INPUT", "op": op}, "reply-field": "text"}
        for op in ops
    }
    hooks = [{"function": op, "mode": "transform"} for op in ops]
    async with Pipeline.from_dict(composition(echo_model.url, functions, pre=hooks)) as pipeline:
        result = await pipeline.run("  chained call  ")
    assert result.output == "model saw: <CHAINED CALL>"
    assert [r["op"] for r in peer.requests] == list(ops)


@pytest.mark.parametrize("policy", ["continue", "abort"])
async def test_unavailable_server_continues_or_aborts(echo_model, policy) -> None:
    functions = {"check": {"address": closed_address(), "request": {"text": "$INPUT"}}}
    hook = {"function": "check", "mode": "transform", "on_failure": policy}
    async with Pipeline.from_dict(composition(echo_model.url, functions, pre=[hook])) as pipeline:
        if policy == "abort":
            with pytest.raises(PipelineError) as caught:
                await pipeline.run("hello")
            assert 'pre-hook "check" (grpc) failed' in caught.value.message
            assert "failed with status UNAVAILABLE" in caught.value.message
            assert echo_model.chat_requests == []
        else:
            result = await pipeline.run("hello")
            assert result.output == "model saw: hello"
            outcome = result.trace.hops[0].hooks[0]
            assert outcome.status == "failed"
            assert "UNAVAILABLE" in (outcome.error or "")


async def test_conditional_hook_with_a_numeric_condition(grpc_peer, echo_model) -> None:
    peer = await grpc_peer(enrich)
    functions = {
        "up": {"address": peer.address, "request": {"text": "$INPUT", "op": "upper"}, "reply-field": "text"}
    }
    hook = {"function": "up", "mode": "transform", "if": "$WORD_COUNT > 3"}
    async with Pipeline.from_dict(composition(echo_model.url, functions, pre=[hook])) as pipeline:
        short = await pipeline.run("only three words")
        long = await pipeline.run("now there are five words")
    assert short.output == "model saw: only three words"
    assert short.trace.hops[0].hooks[0].status == "skipped"
    assert long.output == "model saw: NOW THERE ARE FIVE WORDS"
    assert [r["text"] for r in peer.requests] == ["now there are five words"]


async def test_timeout_in_a_pipeline_continues_without_the_hook(grpc_peer, echo_model) -> None:
    async def slow(request: dict[str, Any], context: Any) -> dict[str, Any]:
        await asyncio.wait_for(peer.release.wait(), 5)
        return {"text": "late"}

    peer = await grpc_peer(slow)
    functions = {"slow": {"address": peer.address, "request": {"text": "$INPUT"}, "timeout": 0.5}}
    async with Pipeline.from_dict(
        composition(echo_model.url, functions, pre=[{"function": "slow", "mode": "transform"}])
    ) as pipeline:
        result = await pipeline.run("hello")
    assert result.output == "model saw: hello"
    outcome = result.trace.hops[0].hooks[0]
    # the engine's timeout and the call's deadline (both 0.5 s) race: either one ends the hook, as a timeout
    assert outcome.status == "timeout"
    error = outcome.error or ""
    assert error == "no answer within 0.5 s" or "failed with status DEADLINE_EXCEEDED" in error


async def test_metadata_with_variables_reaches_the_server_in_a_pipeline(grpc_peer, echo_model) -> None:
    peer = await grpc_peer(enrich)
    functions = {
        "audit": {
            "address": peer.address,
            "request": {"text": "$INPUT"},
            "metadata": {"x-node": "$NODE", "x-request-id": "$REQUEST_ID"},
        }
    }
    async with Pipeline.from_dict(
        composition(echo_model.url, functions, pre=[{"function": "audit", "mode": "transform"}])
    ) as pipeline:
        for i in range(3):
            await pipeline.run(f"run {i}", request_id=f"req-{i}")
    assert [(m["x-node"], m["x-request-id"]) for m in peer.metadata] == [
        ("chat", f"req-{i}") for i in range(3)
    ]
