"""Answers restricted to fixed choices on the `openai-api` backend, against the fake server speaking the
documented wire protocols: OpenAI's `response_format` with a strict JSON schema, vLLM's guided choice for
`runner: "vllm"`, token caps, and the fall-back to a capped plain request when a server refuses."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from llmnet_openai.backend import OpenAIBackend
from llmnet_openai.choices import JSON_OVERHEAD
from llmnet_testing import FakeOpenAIServer

from llmnet_core import BackendError, ChatRequest, Message, ModelSpec, Resources

NAMES = ("billing", "tech support", 'the "other" one', "café ☕")
SCHEMA = {
    "type": "object",
    "properties": {"choice": {"type": "string", "enum": list(NAMES)}},
    "required": ["choice"],
    "additionalProperties": False,
}
LOOSE = {"type": "object", "properties": {"choice": {"type": "string"}}, "required": ["choice"]}


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[FakeOpenAIServer]:
    mode = getattr(request, "param", "follow")
    with FakeOpenAIServer(reply=lambda body: "I'd say tech support, clearly", structured=mode) as srv:
        yield srv


def make(resources: Resources, url: str, **options: Any) -> OpenAIBackend:
    spec = ModelSpec(
        name="m",
        backend="openai-api",
        url=url,
        parameters={"max_tokens": 512, "temperature": 0.7},
        options={"retry-backoff": 0.01, **options},
    )
    return OpenAIBackend(spec, resources)


def choosing(**parameters: Any) -> ChatRequest:
    messages = (Message("system", "name a handler"), Message("user", "my app crashes"))
    return ChatRequest(messages=messages, model="m", parameters=parameters, choices=NAMES)


def longest_bytes() -> int:
    return max(len(name.encode()) for name in NAMES)


async def test_a_strict_json_schema_of_the_choices_goes_on_the_wire(server, resources) -> None:
    backend = make(resources, server.url)
    assert backend.constrains_choices()
    answer = await backend.complete(choosing())
    assert answer.text == "tech support"  # read back from {"choice": "tech support"}
    (sent,) = server.chat_requests
    assert sent.json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "choice", "schema": SCHEMA, "strict": True},
    }
    assert sent.json["max_tokens"] == choosing().choice_max_tokens(JSON_OVERHEAD)
    assert sent.json["max_tokens"] == longest_bytes() + 8 + JSON_OVERHEAD  # not the entry's 512
    assert sent.json["temperature"] == 0.7
    assert "guided_choice" not in sent.json and "structured_outputs" not in sent.json


async def test_names_with_quotes_and_unicode_arrive_and_return_intact(resources) -> None:
    with FakeOpenAIServer(reply='the "other" one', structured="follow") as srv:
        answer = await make(resources, srv.url).complete(choosing())
        assert answer.text == 'the "other" one'
        sent = json.loads(srv.chat_requests[0].body.decode())
        assert sent["response_format"]["json_schema"]["schema"]["properties"]["choice"]["enum"] == [*NAMES]


async def test_the_callers_own_token_limit_is_kept(server, resources) -> None:
    await make(resources, server.url).complete(choosing(max_tokens=3))
    assert server.chat_requests[0].json["max_tokens"] == 3


async def test_vllm_gets_its_guided_choice_and_answers_plain_text(server, resources) -> None:
    answer = await make(resources, server.url, runner="vllm").complete(choosing())
    assert answer.text == "tech support"
    (sent,) = server.chat_requests
    assert sent.json["structured_outputs"] == {"choice": list(NAMES)}
    assert sent.json["guided_choice"] == list(NAMES)
    assert "response_format" not in sent.json
    assert sent.json["max_tokens"] == longest_bytes() + 8


@pytest.mark.parametrize("server", ["reject"], indirect=True)
async def test_a_refusal_falls_back_once_to_a_capped_plain_request_and_is_remembered(
    server, resources, caplog
) -> None:
    backend = make(resources, server.url)
    with caplog.at_level(logging.WARNING, logger="llmnet"):
        answer = await backend.complete(choosing())
    assert answer.text == "I'd say tech support, clearly"  # the router reads the plain answer
    first, second = server.chat_requests
    assert "response_format" in first.json
    assert "response_format" not in second.json and second.json["max_tokens"] == longest_bytes() + 8
    assert not backend.constrains_choices()
    assert "refused an answer restricted to fixed choices" in caplog.text
    await backend.complete(choosing())
    assert len(server.chat_requests) == 3 and "response_format" not in server.chat_requests[2].json


async def test_a_422_from_a_fastapi_server_is_a_refusal_too(server, resources) -> None:
    server.push(status=422, body='{"detail": [{"msg": "Input should be \'text\' or \'json_object\'"}]}')
    backend = make(resources, server.url)
    assert (await backend.complete(choosing())).text == "I'd say tech support, clearly"
    assert not backend.constrains_choices() and len(server.chat_requests) == 2


async def test_when_the_plain_request_fails_too_its_error_is_raised_and_nothing_is_remembered(
    server, resources
) -> None:
    server.push(status=400)
    server.push(status=400)
    backend = make(resources, server.url)
    with pytest.raises(BackendError) as caught:
        await backend.complete(choosing())
    assert caught.value.status == 400 and len(server.chat_requests) == 2
    assert backend.constrains_choices()


async def test_a_server_error_is_retried_then_asked_plain(server, resources) -> None:
    """llama-cpp-python's server answers a request shape it does not know with HTTP 500: after the usual
    retries, the plain request's answer shows the constraint was the trouble."""
    for _ in range(3):
        server.push(status=500)
    backend = make(resources, server.url)
    assert (await backend.complete(choosing())).text == "I'd say tech support, clearly"
    assert ["response_format" in r.json for r in server.chat_requests] == [True, True, True, False]
    assert not backend.constrains_choices()


@pytest.mark.parametrize("status", [401, 404, 429])
async def test_other_failures_are_not_refusals(server, resources, status: int) -> None:
    for _ in range(3):
        server.push(status=status, headers={"Retry-After": "0"})
    backend = make(resources, server.url)
    with pytest.raises(BackendError) as caught:
        await backend.complete(choosing())
    assert caught.value.status == status and backend.constrains_choices()
    assert all("response_format" in r.json for r in server.chat_requests)


@pytest.mark.parametrize("server", ["ignore"], indirect=True)
async def test_a_server_that_ignores_the_schema_gives_its_plain_answer(server, resources) -> None:
    answer = await make(resources, server.url).complete(choosing())
    assert answer.text == "I'd say tech support, clearly"


async def test_a_request_without_choices_is_unchanged(server, resources) -> None:
    await make(resources, server.url).complete(ChatRequest(messages=(Message("user", "hi"),), model="m"))
    sent = server.chat_requests[0].json
    assert sent["max_tokens"] == 512 and "response_format" not in sent


# -- the fake server speaks the protocols ------------------------------------------------------------


def post(server: FakeOpenAIServer, **fields: Any) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return httpx.post(server.url + "/v1/chat/completions", json=body)


def content(answer: httpx.Response) -> str:
    return answer.json()["choices"][0]["message"]["content"]


def test_the_fake_follows_json_schemas_json_objects_and_guided_choices() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "choice", "schema": SCHEMA, "strict": True}}
    with FakeOpenAIServer(reply="café ☕ please", structured="follow") as srv:
        assert json.loads(content(post(srv, response_format=fmt))) == {"choice": "café ☕"}
        assert json.loads(content(post(srv, response_format={"type": "json_object"}))) == "café ☕ please"
        assert content(post(srv, guided_choice=["tea", "café ☕"])) == "café ☕"
        assert content(post(srv, structured_outputs={"choice": ["x", "y"]})) == "x"  # names none: the first
        assert content(post(srv, response_format={"type": "text"})) == "café ☕ please"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA}}, "json_schema.name"),
        ({"type": "json_schema", "json_schema": {"name": "c"}}, "json_schema.schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "c", "strict": True, "schema": LOOSE}},
            "additionalProperties",
        ),
        ({"type": "yaml"}, "response_format.type"),
    ],
)
def test_the_fake_refuses_what_openai_refuses(fmt: dict[str, Any], message: str) -> None:
    with FakeOpenAIServer(structured="follow") as srv:
        answer = post(srv, response_format=fmt)
        assert answer.status_code == 400 and message in answer.json()["error"]["message"]


def test_the_fake_can_be_a_server_without_support() -> None:
    with FakeOpenAIServer(reply="plain", structured="reject") as srv:
        refused = post(srv, guided_choice=["a"])
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
        assert content(post(srv)) == "plain"
        assert srv.chat_requests[0].json["guided_choice"] == ["a"]  # recorded all the same
    with pytest.raises(ValueError, match="unknown structured mode"):
        FakeOpenAIServer(structured="maybe")
