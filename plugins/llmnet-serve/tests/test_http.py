"""Raw HTTP against `llmnet serve`: error statuses and their JSON bodies, auth, request ids, traces,
/status counters."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

CHAT = "/v1/chat/completions"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": text}], **extra}


def assert_error(reply: httpx.Response, status: int, kind: str, *, param: str | None = None) -> dict:
    """The reply is an HTTP error with an OpenAI-style JSON body; returns the `error` object."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == kind
    assert error["message"]
    assert error["param"] == param
    return error


def sse_events(text: str) -> list[Any]:
    """The `data:` payloads of a server-sent event stream ([DONE] stays a string)."""
    events = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=20) as http:
        yield http


async def test_health_needs_no_key(client, routed):
    reply = await client.get(f"{routed.url}/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


async def test_request_id_is_echoed_or_generated(client, routed):
    given = await client.post(
        f"{routed.url}{CHAT}",
        json=chat("prices [rid-1]"),
        headers={"x-request-id": "req-42", "x-llmnet-trace": "1"},
    )
    assert given.status_code == 200
    assert given.headers["x-request-id"] == "req-42"
    assert given.json()["id"] == "chatcmpl-req-42"
    assert given.json()["llmnet_trace"]["request_id"] == "req-42"  # the pipeline ran under that id
    made = await client.post(f"{routed.url}{CHAT}", json=chat("prices [rid-2]"))
    assert len(made.headers["x-request-id"]) >= 16
    assert made.json()["id"] == f"chatcmpl-{made.headers['x-request-id']}"
    odd = await client.post(
        f"{routed.url}{CHAT}", json=chat("prices [rid-3]"), headers={"x-request-id": "a b"}
    )
    assert odd.headers["x-request-id"] != "a b"  # not a token: replaced by a fresh id


async def test_trace_only_when_asked(client, routed):
    plain = await client.post(f"{routed.url}{CHAT}", json=chat("prices [trace-0]"))
    assert "llmnet_trace" not in plain.json()
    by_body = await client.post(
        f"{routed.url}{CHAT}", json=chat("refund please [trace-1]", llmnet={"trace": True})
    )
    trace = by_body.json()["llmnet_trace"]
    assert [hop["node"] for hop in trace["hops"]] == ["router", "support", "output"]
    assert trace["hops"][1]["decision"]["answer"] == "support"
    assert trace["usage"] == by_body.json()["usage"]
    streamed = await client.post(
        f"{routed.url}{CHAT}", json=chat("prices [trace-2]", stream=True), headers={"x-llmnet-trace": "true"}
    )
    events = sse_events(streamed.text)
    assert events[-1] == "[DONE]"
    assert [hop["node"] for hop in events[-2]["llmnet_trace"]["hops"]] == ["router", "sales", "output"]
    assert all("llmnet_trace" not in event for event in events[:-2])


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"", None, "empty"),
        (b"[1, 2]", None, "JSON object"),
        (json.dumps({"model": "x"}).encode(), "messages", "required"),
        (json.dumps({"messages": "hi"}).encode(), "messages", "list"),
        (json.dumps({"messages": []}).encode(), "messages", "empty"),
        (
            json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(),
            "messages[0].content",
            "string",
        ),
        (json.dumps({"messages": [{"role": "robot", "content": "x"}]}).encode(), "messages[0].role", "robot"),
        (
            json.dumps(
                {"messages": [{"role": "system", "content": "a"}, {"role": "assistant", "content": "b"}]}
            ).encode(),
            "messages",
            "no user message",
        ),
        (json.dumps(chat("x", temperature="hot")).encode(), "temperature", "number"),
        (json.dumps(chat("x", top_p=2)).encode(), "top_p", "above 0 and at most 1"),
        (json.dumps(chat("x", top_p=0)).encode(), "top_p", "above 0 and at most 1"),
        (json.dumps(chat("x", max_tokens=0)).encode(), "max_tokens", "whole number"),
        (json.dumps(chat("x", max_completion_tokens=2.5)).encode(), "max_completion_tokens", "whole number"),
        (json.dumps(chat("x", stop=[1])).encode(), "stop", "list of strings"),
        (json.dumps(chat("x", seed="7")).encode(), "seed", "whole number"),
        (
            json.dumps(
                {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}
            ).encode(),
            "messages[0].content[0].type",
            "text only",
        ),
        (json.dumps(chat("x", stream="yes")).encode(), "stream", "true or false"),
        (json.dumps(chat("x", n=2)).encode(), "n", "one choice"),
        (json.dumps(chat("x", model=7)).encode(), "model", "string"),
        (json.dumps(chat("x", llmnet={"trace": "please"})).encode(), "llmnet.trace", "true or false"),
        (
            json.dumps(chat("x", llmnet={"variables": {"A": "b"}})).encode(),
            "llmnet.variables",
            "not accepted",
        ),
    ],
)
async def test_invalid_requests_are_400(client, routed, body, param, words):
    reply = await client.post(
        f"{routed.url}{CHAT}", content=body, headers={"content-type": "application/json"}
    )
    error = assert_error(reply, 400, "invalid_request_error", param=param)
    assert words in error["message"]
    assert reply.headers["x-request-id"]


async def test_text_parts_are_accepted(client, routed):
    parts = [{"type": "text", "text": "prices "}, {"type": "text", "text": "[parts-1]"}]
    reply = await client.post(f"{routed.url}{CHAT}", json={"messages": [{"role": "user", "content": parts}]})
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"] == "sales answer to: prices [parts-1]"


OFFERED = (
    "POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /v1/models/{model}, "
    "GET /health, GET /status, GET /metrics"
)


async def test_unknown_route_and_method_are_json_errors(client, routed):
    missing = await client.get(f"{routed.url}/v1/embeddings")
    error = assert_error(missing, 404, "invalid_request_error")
    assert error["message"] == f"no route GET /v1/embeddings; this server offers {OFFERED}"
    wrong_method = await client.get(f"{routed.url}{CHAT}")
    error = assert_error(wrong_method, 405, "invalid_request_error")
    assert wrong_method.headers["allow"] == "POST"
    assert error["message"] == f"method GET is not allowed on {CHAT}; it takes POST"
    posted = await client.post(f"{routed.url}/v1/models", json={})
    error = assert_error(posted, 405, "invalid_request_error")
    assert {m.strip() for m in posted.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert error["message"] == "method POST is not allowed on /v1/models; it takes GET, HEAD"
    # the paths without /v1 answer too, but are not listed
    alias = await client.put(f"{routed.url}/chat/completions")
    assert_error(alias, 405, "invalid_request_error")
    assert alias.headers["allow"] == "POST"


async def test_body_over_the_limit_is_413(client, routed):
    big = json.dumps(chat("x" * (1024 * 1024 + 10))).encode()
    declared = await client.post(
        f"{routed.url}{CHAT}", content=big, headers={"content-type": "application/json"}
    )
    error = assert_error(declared, 413, "invalid_request_error")
    assert "--max-body" in error["message"]

    async def chunks():  # no Content-Length: the size is counted as the body arrives
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = await client.post(f"{routed.url}{CHAT}", content=chunks())
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "invalid_request_error")


async def test_auth_is_off_without_a_key(client, routed):
    reply = await client.post(
        f"{routed.url}{CHAT}", json=chat("prices [noauth-1]"), headers={"authorization": "Bearer anything"}
    )
    assert reply.status_code == 200
    assert (await client.get(f"{routed.url}/status")).status_code == 200


async def test_backend_failure_is_502_and_counted(client, routed, server_status):
    before = await server_status(client, routed.url)
    routed.sales.push(status=400)
    failed = await client.post(f"{routed.url}{CHAT}", json=chat("prices [fail-2]", llmnet={"trace": True}))
    error = assert_error(failed, 502, "upstream_error")
    assert error["code"] == "backend_error"
    assert 'node "sales"' in error["message"]
    assert failed.json()["llmnet_trace"]["error"]  # the trace comes with the error when asked
    ok = await client.post(f"{routed.url}{CHAT}", json=chat("refund [count-1]"))
    assert ok.status_code == 200
    after = await server_status(client, routed.url)
    assert after["requests"]["total"] - before["requests"]["total"] == 2  # /status is not counted
    assert after["requests"]["failed"] - before["requests"]["failed"] == 1
    assert after["requests"]["succeeded"] - before["requests"]["succeeded"] == 1
    assert after["requests"]["in_flight"] == 0
    nodes_before, nodes_after = before["nodes"], after["nodes"]
    assert nodes_after["router"]["hops"] - nodes_before["router"]["hops"] == 2
    assert nodes_after["sales"]["hops"] - nodes_before["sales"]["hops"] == 1
    assert nodes_after["sales"]["errors"] - nodes_before["sales"]["errors"] == 1
    assert nodes_after["support"]["hops"] - nodes_before["support"]["hops"] == 1
    assert nodes_after["support"]["errors"] == nodes_before["support"]["errors"]
    assert nodes_after["output"]["hops"] - nodes_before["output"]["hops"] == 1
    assert after["uptime_s"] > 0


# -- with an API key (given through LLMNET_API_KEY), a small --max-body and a chosen model id -------------


@pytest.fixture(scope="module")
def keyed(routed, start_serve) -> str:
    env = {**os.environ, "LLMNET_API_KEY": "s3cret-key"}
    server = start_serve(routed.path, "--max-body", "4096", "--model-id", "shop-bot", env=env)
    return server.url


async def test_api_key_is_required(client, keyed):
    missing = await client.post(f"{keyed}{CHAT}", json=chat("prices"))
    error = assert_error(missing, 401, "authentication_error")
    assert "Bearer" in error["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await client.post(f"{keyed}{CHAT}", json=chat("prices"), headers={"authorization": "Bearer nope"})
    assert_error(wrong, 401, "authentication_error")
    not_bearer = await client.post(
        f"{keyed}{CHAT}", json=chat("prices"), headers={"authorization": "s3cret-key"}
    )
    assert_error(not_bearer, 401, "authentication_error")
    assert "s3cret-key" not in wrong.text + missing.text
    good = {"authorization": "Bearer s3cret-key"}
    ok = await client.post(f"{keyed}{CHAT}", json=chat("prices [auth-1]"), headers=good)
    assert ok.status_code == 200
    assert ok.json()["model"] == "shop-bot"
    assert (await client.get(f"{keyed}/health")).status_code == 200
    assert_error(await client.get(f"{keyed}/v1/models"), 401, "authentication_error")
    assert_error(await client.get(f"{keyed}/status"), 401, "authentication_error")
    models = await client.get(f"{keyed}/v1/models", headers=good)
    assert [m["id"] for m in models.json()["data"]] == ["shop-bot"]
    assert (await client.get(f"{keyed}/status", headers=good)).json()["model"] == "shop-bot"


async def test_small_max_body(client, keyed):
    headers = {"authorization": "Bearer s3cret-key"}
    reply = await client.post(f"{keyed}{CHAT}", json=chat("y" * 5000), headers=headers)
    error = assert_error(reply, 413, "invalid_request_error")
    assert "4096" in error["message"]
