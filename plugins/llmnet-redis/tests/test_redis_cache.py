"""The `redis` response cache against a real redis-server: shared by two pipelines (two replicas) and by
two `llmnet run` processes, answers kept for the cache's ttl, nothing in clear, and a server that is
down or refuses the password costs a cache, never a request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmnet_core import Pipeline
from llmnet_core.composition import validate_composition

LLMNET = Path(sys.executable).with_name("llmnet")
CANARY = "sk-canary-redis-5e2c91"


def composition(model_url: str, cache: Any, **model: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": model_url, "retries": 0, **model}},
        "settings": {"cache": cache},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


def stored(server: Any) -> dict[str, tuple[str, int]]:
    """Every key llmnet wrote, with its value and its time to live in milliseconds."""
    with server.client() as client:
        return {key: (client.get(key), client.pttl(key)) for key in client.scan_iter("llmnet:answer:*")}


async def ask(data: dict[str, Any], prompt: str) -> Any:
    async with Pipeline.from_dict(data) as pipe:
        return await pipe.run(prompt)


async def test_two_replicas_share_answers(fake_server, redis_server, redis_url):
    model = fake_server("Paris is the capital of France.")
    data = composition(model.url, {"backend": "redis", "url": redis_url, "ttl": 90})
    async with Pipeline.from_dict(data) as first, Pipeline.from_dict(data) as second:
        answered = await first.run("What is the capital of France?")
        shared = await second.run("What is the capital of France?")
    assert answered.output == shared.output == "Paris is the capital of France."
    assert len(model.chat_requests) == 1  # the second replica never asked the model
    assert answered.trace.hops[0].cache == "miss" and shared.trace.hops[0].cache == "hit"
    assert shared.trace.hops[0].answered_by == "m" and shared.trace.model_calls == 0
    [(key, (value, ttl))] = stored(redis_server).items()
    assert len(key.removeprefix("llmnet:answer:")) == 64  # a SHA-256, not the question
    assert json.loads(value)["text"] == "Paris is the capital of France."
    assert 0 < ttl <= 90_000  # the cache's ttl, kept by the server itself


async def test_a_different_question_or_parameter_is_another_entry(fake_server, redis_server, redis_url):
    model = fake_server(lambda request: f"echo {request['messages'][-1]['content']}")
    data = composition(model.url, {"backend": "redis", "url": redis_url})
    await ask(data, "one")
    await ask(data, "two")
    data["models"]["m"]["parameters"] = {"max_tokens": 5}
    await ask(data, "one")
    assert len(model.chat_requests) == 3
    assert len(stored(redis_server)) == 3


async def test_no_secret_and_no_question_is_stored_in_clear(fake_server, redis_server, redis_url):
    model = fake_server("an answer")
    data = composition(model.url, {"backend": "redis", "url": redis_url}, **{"api-key": CANARY})
    await ask(data, "my private question")
    await ask(data, "my private question")
    assert len(model.chat_requests) == 1
    assert model.chat_requests[0].headers["authorization"] == f"Bearer {CANARY}"
    dumped = json.dumps(stored(redis_server))
    assert CANARY not in dumped and "private question" not in dumped
    assert "an answer" in dumped  # values are answers only


async def test_two_llmnet_run_processes_share_the_cache(fake_server, redis_url, tmp_path):
    model = fake_server("from the model")
    path = tmp_path / "cached.json"
    path.write_text(json.dumps(composition(model.url, {"backend": "redis", "url": "$CACHE_URL"})))
    env = {**os.environ, "CACHE_URL": redis_url}
    command = [str(LLMNET), "run", str(path), "hello", "--format", "json"]
    runs = [subprocess.run(command, capture_output=True, text=True, env=env, timeout=60) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    results = [json.loads(run.stdout) for run in runs]
    assert [r["output"] for r in results] == ["from the model", "from the model"]
    assert [r["trace"]["hops"][0]["cache"] for r in results] == ["miss", "hit"]
    assert len(model.chat_requests) == 1


async def test_a_cache_that_is_down_costs_the_cache_not_the_request(fake_server, caplog):
    from llmnet_testing import free_port

    model = fake_server("still answered")
    data = composition(model.url, {"backend": "redis", "url": f"redis://127.0.0.1:{free_port()}/0"})
    with caplog.at_level(logging.WARNING, logger="llmnet.cache"):
        result = await ask(data, "hello")
    assert result.output == "still answered"
    assert result.trace.hops[0].cache == "error"
    [record] = [r for r in caplog.records if r.name == "llmnet.cache"]
    assert "could not read the redis cache" in record.getMessage()


async def test_a_refused_password_is_masked_in_the_log(fake_server, start_redis_server, caplog):
    server = start_redis_server(password="right-Passw0rd")
    model = fake_server("answered")
    wrong = f"redis://:{CANARY}@127.0.0.1:{server.port}/0"
    with caplog.at_level(logging.DEBUG, logger="llmnet.cache"):
        result = await ask(composition(model.url, {"backend": "redis", "url": wrong}), "hello")
    assert result.output == "answered" and result.trace.hops[0].cache == "error"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "llmnet.cache" in {r.name for r in caplog.records}
    assert CANARY not in logged
    good = composition(model.url, {"backend": "redis", "url": server.url})
    await ask(good, "hello")
    assert (await ask(good, "hello")).trace.hops[0].cache == "hit"


async def test_the_url_may_come_from_a_secret_block(fake_server, start_redis_server, monkeypatch):
    server = start_redis_server(password=CANARY)
    monkeypatch.setenv("CACHE_URL", server.url)
    model = fake_server("answered")
    data = composition(model.url, {"backend": "redis", "url": "$secrets.cache.CACHE_URL"})
    data["secrets"] = {"cache": {"source": "env", "variable": "CACHE_URL"}}
    results = [await ask(data, "hello") for _ in range(2)]
    assert [r.trace.hops[0].cache for r in results] == ["miss", "hit"]
    data["settings"]["cache"]["url"] = "$secrets.cache.NOPE"
    with pytest.raises(Exception, match=r"settings\.cache\.url: secret \"cache\" has no variable NOPE"):
        await ask(data, "hello")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "'http' is not a Redis address"),
        ("redis://127.0.0.1:99999/0", "has a port that is not a number from 1 to 65535"),
        ("redis://127.0.0.1:6379/cache", "names the database 'cache'; databases are numbers"),
    ],
)
def test_validate_refuses_an_address_the_client_cannot_use(host, url: str, message: str):
    data = composition("http://127.0.0.1:1", {"backend": "redis", "url": url})
    _, problems = validate_composition(data, registries=host.registries)
    assert [(p.path, p.message, p.severity) for p in problems] == [("settings.cache.url", message, "error")]


def test_a_misspelt_backend_gets_a_suggestion(host):
    data = composition("http://127.0.0.1:1", {"backend": "rdis"})
    data["architecture"][0]["cache"] = {"backend": "memroy"}
    _, problems = validate_composition(data, registries=host.registries)
    found = {(p.path, p.message, p.hint) for p in problems}
    missing = 'no installed plugin provides the cache backend "{}"'
    assert found == {
        ("settings.cache.backend", missing.format("rdis"), 'did you mean "redis"?'),
        ("architecture[0].cache.backend", missing.format("memroy"), 'did you mean "memory"?'),
    }
