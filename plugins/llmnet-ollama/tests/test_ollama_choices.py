"""Answers restricted to fixed choices on the `ollama` backend, against the fake server speaking Ollama's
documented protocol: `format` a JSON schema with an enum, `num_predict` capped, the JSON answer read back,
and the fall-back to a capped plain request when the server refuses a schema (Ollama before 0.5)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from llmnet_ollama.backend import JSON_OVERHEAD, OllamaBackend
from llmnet_testing import FakeOllamaServer

from llmnet_core import BackendError, ChatRequest, Message, ModelSpec, Resources

NAMES = ("billing", "tech support", 'the "other" one', "日本語")
SCHEMA = {
    "type": "object",
    "properties": {"choice": {"type": "string", "enum": list(NAMES)}},
    "required": ["choice"],
    "additionalProperties": False,
}
REPLY = "maybe tech support?"


def make(resources: Resources, url: str) -> OllamaBackend:
    spec = ModelSpec(
        name="m",
        backend="ollama",
        url=url,
        wire_model="llama3.2",
        parameters={"max_tokens": 512, "temperature": 0.5},
        options={"retry-backoff": 0.01},
    )
    return OllamaBackend(spec, resources)


def choosing(**parameters: Any) -> ChatRequest:
    messages = (Message("system", "name a handler"), Message("user", "it crashes"))
    return ChatRequest(messages=messages, model="llama3.2", parameters=parameters, choices=NAMES)


def cap(overhead: int = 0) -> int:
    return max(len(name.encode()) for name in NAMES) + 8 + overhead


async def test_format_is_a_json_schema_of_the_choices_and_the_answer_the_choice(resources) -> None:
    with FakeOllamaServer(reply=REPLY, structured="follow") as srv:
        backend = make(resources, srv.url)
        assert backend.constrains_choices()
        answer = await backend.complete(choosing())
        assert answer.text == "tech support"
        (sent,) = srv.chat_requests
        assert sent.json["format"] == SCHEMA
        assert sent.json["stream"] is False
        assert sent.json["options"] == {"temperature": 0.5, "num_predict": cap(JSON_OVERHEAD)}


async def test_unicode_and_quotes_survive_the_round_trip(resources) -> None:
    with FakeOllamaServer(reply="日本語", structured="follow") as srv:
        assert (await make(resources, srv.url).complete(choosing())).text == "日本語"
    with FakeOllamaServer(reply='the "other" one', structured="follow") as srv:
        assert (await make(resources, srv.url).complete(choosing())).text == 'the "other" one'


async def test_the_callers_own_limit_is_kept_under_any_spelling(resources) -> None:
    with FakeOllamaServer(reply=REPLY, structured="follow") as srv:
        await make(resources, srv.url).complete(choosing(num_predict=40))
        await make(resources, srv.url).complete(choosing(max_tokens=30))
        assert [r.json["options"]["num_predict"] for r in srv.chat_requests] == [40, 30]


async def test_a_refused_schema_falls_back_once_and_is_remembered(resources, caplog) -> None:
    with FakeOllamaServer(reply=REPLY, structured="reject") as srv:
        backend = make(resources, srv.url)
        with caplog.at_level(logging.WARNING, logger="llmnet"):
            answer = await backend.complete(choosing())
        assert answer.text == REPLY  # the router reads the plain answer
        first, second = srv.chat_requests
        assert first.json["format"] == SCHEMA
        assert "format" not in second.json and second.json["options"]["num_predict"] == cap()
        assert not backend.constrains_choices()
        assert "refused a JSON schema format" in caplog.text
        await backend.complete(choosing())
        assert len(srv.chat_requests) == 3 and "format" not in srv.chat_requests[2].json


async def test_a_server_error_on_the_schema_is_retried_then_asked_plain(resources) -> None:
    with FakeOllamaServer(reply=REPLY, structured="follow") as srv:
        for _ in range(3):
            srv.push(status=500, error="failed to load grammar")
        backend = make(resources, srv.url)
        assert (await backend.complete(choosing())).text == REPLY
        assert ["format" in r.json for r in srv.chat_requests] == [True, True, True, False]
        assert not backend.constrains_choices()


async def test_when_the_plain_request_fails_too_nothing_is_remembered(resources) -> None:
    with FakeOllamaServer(reply=REPLY, structured="follow") as srv:
        srv.push(status=400, error="invalid options")
        srv.push(status=400, error="invalid options")
        backend = make(resources, srv.url)
        with pytest.raises(BackendError, match="invalid options"):
            await backend.complete(choosing())
        assert backend.constrains_choices() and len(srv.chat_requests) == 2


async def test_an_ollama_that_ignores_format_gives_its_plain_answer(resources) -> None:
    with FakeOllamaServer(reply=REPLY) as srv:  # the fake's default: format ignored
        assert (await make(resources, srv.url).complete(choosing())).text == REPLY


# -- the fake server speaks the protocol -------------------------------------------------------------


def chat(server: FakeOllamaServer, **fields: Any) -> httpx.Response:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False, **fields}
    return httpx.post(server.url + "/api/chat", json=body)


def test_the_fake_follows_a_schema_and_json_mode_streamed_or_not() -> None:
    with FakeOllamaServer(reply="tech support, surely", structured="follow") as srv:
        whole = chat(srv, format=SCHEMA).json()["message"]["content"]
        assert json.loads(whole) == {"choice": "tech support"}
        assert json.loads(chat(srv, format="json").json()["message"]["content"]) == "tech support, surely"
        lines = httpx.post(
            srv.url + "/api/chat",
            json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "format": SCHEMA},
        ).text.splitlines()
        streamed = "".join(json.loads(line)["message"]["content"] for line in lines)
        assert json.loads(streamed) == {"choice": "tech support"}
        assert chat(srv, format=42).status_code == 400


def test_the_fake_can_be_an_ollama_without_schemas() -> None:
    with FakeOllamaServer(reply="plain", structured="reject") as srv:
        refused = chat(srv, format=SCHEMA)
        assert refused.status_code == 400 and "cannot unmarshal object" in refused.json()["error"]
        assert chat(srv, format="json").status_code == 200  # "json" was known before schemas
        assert chat(srv).json()["message"]["content"] == "plain"
