"""Unit-level tests of the rest transport: options, request building, replies and failures, each
against a real HTTP peer on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llmnet_rest.transport import USER_AGENT, RestTransport
from llmnet_testing import REPLY_CASES, free_port

from llmnet_core import (
    FunctionSpec,
    HookCall,
    Redactor,
    Resources,
    StepTimeoutError,
    TransportError,
    TransportTimeoutError,
    decode_reply,
)

NASTY = 'He said "hi" \\ then\nleft\t{"x": [1]} $NODE ${INPUT} </script> ü 🙂'


def make(resources: Resources, timeout: float = 5.0, name: str = "audit", **options: Any) -> RestTransport:
    return RestTransport(FunctionSpec(name=name, type="rest", options=options, timeout=timeout), resources)


def hook(data: str = "hello world", phase: str = "pre", **variables: str) -> HookCall:
    values = {"INPUT": data, "NODE": "chat", "WORD_COUNT": str(len(data.split())), **variables}
    return HookCall("audit", phase, "transform", "chat", data, values, 5.0)


# -- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "functions.audit.url: is required"),
        ({"url": "ftp://example.com/x"}, "functions.audit.url: 'ftp://example.com/x' is not an http(s) URL"),
        ({"url": "localhost:8080"}, "functions.audit.url: 'localhost:8080' is not an http(s) URL"),
        ({"url": "http://h/", "method": "FETCH"}, "functions.audit.method: 'FETCH' is not an HTTP method"),
        ({"url": "http://h/", "headers": {"X-A": ["x"]}}, "functions.audit.headers.X-A: Input should be"),
        ({"url": "http://h/", "headers": {"Bad Name": "x"}}, "'Bad Name' is not a valid HTTP header name"),
        ({"url": "http://h/", "headers": {"X-A": "a\nb"}}, "the value of X-A cannot be sent"),
    ],
)
def test_bad_options_name_the_field(resources, options, expected):
    with pytest.raises(TransportError) as info:
        make(resources, **options)
    assert expected in info.value.message
    assert "\n" not in info.value.message
    assert "url, method, headers, body" in (info.value.hint or "")


def test_options_are_normalised(resources):
    transport = make(resources, url=" http://h:1/x ", method="put", headers={"X-Retries": 3})
    assert (transport.method, transport.url) == ("PUT", "http://h:1/x")
    assert transport.headers["X-Retries"] == "3"


# -- requests ---------------------------------------------------------------------------------------


async def test_json_body_keeps_special_characters_intact(peer, resources):
    url = peer.on("/hook", body={"ok": True})
    body = {"text": "$INPUT", "meta": {"node": "$NODE", "words": "$WORD_COUNT"}, "list": ["$INPUT", 1]}
    transport = make(resources, url=url, body=body)
    assert await transport.call(hook(NASTY)) == {"ok": True}
    sent = peer.at("/hook")[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "text": NASTY,  # `$NODE` inside the value is not substituted a second time
        "meta": {"node": "chat", "words": str(len(NASTY.split()))},
        "list": [NASTY, 1],
    }


async def test_a_json_body_written_as_text_is_escaped(peer, resources):
    url = peer.on("/hook", status=204)
    template = '{"text": "$INPUT", "count": $WORD_COUNT}'  # not JSON until substituted
    transport = make(resources, url=url, body=template, headers={"Content-Type": "application/json"})
    assert await transport.call(hook(NASTY)) is None
    assert peer.at("/hook")[0].json == {"text": NASTY, "count": len(NASTY.split())}


async def test_a_text_template_with_json_type_must_become_json(peer, resources):
    url = peer.on("/hook", status=204)
    transport = make(resources, url=url, body="{ $INPUT }", headers={"Content-Type": "application/json"})
    with pytest.raises(TransportError, match="not valid JSON after substitution") as info:
        await transport.call(hook("plain words"))
    assert "inside a JSON string" in info.value.hint
    assert peer.received == []


async def test_a_text_body_is_sent_as_text(peer, resources):
    url = peer.on("/hook", lambda r: (200, r.text.upper()))
    transport = make(resources, url=url, body="[$NODE] $INPUT")
    assert await transport.call(hook('a "quoted" word')) == '[CHAT] A "QUOTED" WORD'
    assert peer.at("/hook")[0].headers["content-type"] == "text/plain; charset=utf-8"


async def test_without_a_body_post_sends_the_hook_envelope(peer, resources):
    url = peer.on("/hook", status=204)
    await make(resources, url=url).call(hook("hi there", phase="post", OUTPUT="hi there"))
    sent = peer.at("/hook")[0].json
    assert {k: sent[k] for k in ("function", "phase", "mode", "node", "data")} == {
        "function": "audit",
        "phase": "post",
        "mode": "transform",
        "node": "chat",
        "data": "hi there",
    }
    assert sent["variables"]["OUTPUT"] == "hi there"


async def test_get_substitutes_the_url_one_component_per_value(peer, resources):
    url = peer.on("/lookup/chat", lambda r: (200, r.target))
    transport = make(resources, url=peer.url("/lookup/$NODE?q=$INPUT&n=$WORD_COUNT"), method="GET")
    target = await transport.call(hook("a/b?c=d&e #f"))
    assert target == "/lookup/chat?q=a%2Fb%3Fc%3Dd%26e%20%23f&n=2"
    sent = peer.at("/lookup/chat")[0]
    assert (sent.method, sent.body) == ("GET", b"")
    assert url.endswith("/lookup/chat")


async def test_headers_are_substituted_and_checked(peer, resources):
    url = peer.on("/hook", status=204)
    transport = make(resources, url=url, headers={"X-Node": "$NODE", "X-Text": "$INPUT"}, method="DELETE")
    await transport.call(hook("fine"))
    sent = peer.at("/hook")[0]
    assert (sent.headers["x-node"], sent.headers["x-text"], sent.headers["user-agent"][:11]) == (
        "chat",
        "fine",
        "llmnet-rest",
    )
    with pytest.raises(TransportError, match="header X-Text: the value after substitution cannot be sent"):
        await transport.call(hook("line\nbreak"))
    assert len(peer.received) == 1


# -- replies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ({"label": "spam"}, None, {"label": "spam"}),
        ([1, 2], "application/problem+json", [1, 2]),
        ('{"a": 1}', "text/plain", '{"a": 1}'),  # declared text stays text
        (b'{"a": 1}', None, {"a": 1}),  # no declared type: JSON-looking bodies are data
        (b"[not json", None, "[not json"),
        ("new text\n", None, "new text\n"),
        (b"", None, None),
        ("  \n", None, None),
    ],
)
async def test_replies(peer, resources, body, content_type, expected):
    url = peer.on("/hook", body=body, content_type=content_type)
    assert await make(resources, url=url).call(hook()) == expected


async def test_invalid_json_with_a_json_type_fails(peer, resources):
    url = peer.on("/hook", body=b"{oops", content_type="application/json")
    with pytest.raises(
        TransportError, match=r'function "audit": POST http://127.0.0.1:\d+/hook answered invalid'
    ):
        await make(resources, url=url).call(hook())


@pytest.mark.parametrize(("reply", "expected"), REPLY_CASES)
async def test_a_reply_without_a_type_means_what_it_means_over_every_transport(
    peer, resources, reply, expected
):
    url = peer.on("/hook", body=reply.encode(), content_type=None)
    assert await make(resources, url=url).call(hook()) == expected == decode_reply(reply)


#: the replies of REPLY_CASES that are JSON (or empty), sent as application/json
JSON_REPLIES = [case for case in REPLY_CASES if case[0] not in ("plain text", "{not json")]


@pytest.mark.parametrize(("reply", "expected"), JSON_REPLIES)
async def test_a_json_reply_means_the_same_as_an_untyped_one(peer, resources, reply, expected):
    url = peer.on("/hook", body=reply.encode(), content_type="application/json")
    assert await make(resources, url=url).call(hook()) == expected


def test_the_user_agent_names_the_package_version():
    import llmnet_rest

    assert f"llmnet-rest/{llmnet_rest.__version__}" == USER_AGENT


async def test_non_2xx_names_function_peer_status_and_excerpt(peer, resources):
    url = peer.on("/hook", status=500, body="database exploded " + "x" * 500)
    transport = make(resources, url=url + "?token=abc")
    with pytest.raises(TransportError) as info:
        await transport.call(hook())
    message = info.value.message
    assert message.startswith(f'function "audit": POST {url} answered HTTP 500: database exploded x')
    assert len(message) < 300 and message.endswith("…")
    assert "token=abc" not in message  # the query string may carry credentials


async def test_a_secret_echoed_across_the_excerpt_cut_leaves_nothing(peer, resources):
    secret = "sk-" + "0123456789abcdef" * 3
    live = Redactor([secret])  # as a running pipeline knows its secrets
    url = peer.on("/hook", status=401, body="x" * 190 + secret)
    with pytest.raises(TransportError) as info:
        await make(resources, url=url).call(hook())
    assert info.value.message.endswith(": " + "x" * 190 + "***")
    del live


def test_check_reports_each_bad_field_at_its_path():
    spec = FunctionSpec("audit", "rest", {"url": "ftp://h/", "method": "FETCH", "heders": {}})
    problems = {p.path: p.message for p in RestTransport.check(spec)}
    assert problems == {
        "functions.audit.url": "'ftp://h/' is not an http(s) URL; write e.g. http://127.0.0.1:8080/hook",
        "functions.audit.method": "'FETCH' is not an HTTP method; use one of GET, POST, PUT, PATCH, DELETE, "
        "HEAD, OPTIONS",
        "functions.audit.heders": 'unknown field (did you mean "headers"?), ignored',
    }
    assert [p.severity for p in RestTransport.check(spec) if p.path.endswith("heders")] == ["warning"]
    assert RestTransport.check(FunctionSpec("audit", "rest", {"url": "http://h/$NODE"})) == []


async def test_unreachable_peer(resources):
    transport = make(resources, url=f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(
        TransportError, match=r"could not reach http://127.0.0.1:\d+/hook \(connection refused\)"
    ):
        await transport.call(hook())


async def test_own_timeout_bounds_a_slow_peer(peer, resources):
    url = peer.on("/slow", body="late", delay=3)
    with pytest.raises(TransportTimeoutError, match=r"POST .*/slow: no answer within 0.3 s") as caught:
        await make(resources, timeout=0.3, url=url).call(hook())
    # a timeout is typed: still a TransportError for on_failure, and a StepTimeoutError for servers (504)
    assert isinstance(caught.value, TransportError) and isinstance(caught.value, StepTimeoutError)


async def test_other_failures_are_not_timeouts(peer, resources):
    url = peer.on("/broken", status=500, body="boom")
    with pytest.raises(TransportError, match="answered HTTP 500") as caught:
        await make(resources, url=url).call(hook())
    assert not isinstance(caught.value, StepTimeoutError)


async def test_one_pooled_connection_per_peer(peer, resources):
    url = peer.on("/hook", status=204)
    first, second = make(resources, url=url, name="a"), make(resources, url=url, name="b")
    for _ in range(3):
        await first.call(hook())
        await second.call(hook())
    assert len({r.client_port for r in peer.received}) == 1
    assert len(peer.received) == 6


def test_the_entry_point_registers_rest(host):
    registered = host.registries.transports.get("rest")
    assert registered is RestTransport
    assert json.dumps(RestTransport.description)
