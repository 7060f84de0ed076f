"""The response cache (`settings.cache`, a node's `cache`) with the in-process `memory` backend, against a
fake model server that counts its requests: hits, time to live (on an injected clock), the size bound,
the temperature rule, streams, errors never kept, routers, and what `validate` says."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from llmnet_core import (
    CacheSpec,
    ChatRequest,
    MemoryCache,
    Message,
    ModelSpec,
    Pipeline,
    Resources,
    hookimpl,
)
from llmnet_core.composition import validate_composition
from llmnet_core.response_cache import cache_key, samples


def cached(url: str, cache: Any = True, *, node_cache: Any = None, **model: Any) -> dict[str, Any]:
    """A one-node chatbot whose model is at `url`, with `settings.cache` and the node's own `cache`."""
    node: dict[str, Any] = {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]}
    if node_cache is not None:
        node["cache"] = node_cache
    data: dict[str, Any] = {
        "models": {"m": {"type": "external", "url": url, "retries": 0, **model}},
        "architecture": [node, {"name": "output", "adapter": "output"}],
    }
    if cache is not None:
        data["settings"] = {"cache": cache}
    return data


def echo(request: dict[str, Any]) -> str:
    return f"answer to {request['messages'][-1]['content']}"


async def answers(data: dict[str, Any], *prompts: str, **kwargs: Any) -> list[Any]:
    """Run `prompts` in turn through one pipeline (one process's cache)."""
    async with Pipeline.from_dict(data) as pipe:
        return [await pipe.run(prompt, **kwargs) for prompt in prompts]


async def test_a_repeated_request_is_answered_from_the_cache(fake_server):
    model = fake_server(echo)
    first, second = await answers(cached(model.url), "hello", "hello")
    assert first.output == second.output == "answer to hello"
    assert len(model.chat_requests) == 1
    assert [first.trace.hops[0].cache, second.trace.hops[0].cache] == ["miss", "hit"]
    assert second.trace.model_calls == 0 and second.usage.total_tokens == 0
    assert second.trace.hops[0].answered_by == "m" and second.finish_reason == "stop"
    rendered = second.trace.render()
    assert "↳ answered from the cache" in rendered and "· 1 cache hit" in rendered
    assert second.trace.to_dict()["hops"][0]["cache"] == "hit"


async def test_another_question_or_parameter_is_another_entry(fake_server):
    model = fake_server(echo)
    async with Pipeline.from_dict(cached(model.url)) as pipe:
        await pipe.run("one")
        await pipe.run("two")
        await pipe.run("one", parameters={"max_tokens": 5})
        await pipe.run("one", parameters={"seed": 3})
        assert (await pipe.run("one", parameters={"seed": 3})).trace.hops[0].cache == "hit"
    assert len(model.chat_requests) == 4


async def test_without_a_cache_setting_nothing_is_kept(fake_server):
    model = fake_server(echo)
    results = await answers(cached(model.url, None), "hello", "hello")
    assert len(model.chat_requests) == 2
    assert [r.trace.hops[0].cache for r in results] == [None, None]


async def test_a_node_may_turn_the_cache_off_or_on_for_itself(fake_server):
    model = fake_server(echo)
    await answers(cached(model.url, True, node_cache=False), "hi", "hi")
    assert len(model.chat_requests) == 2
    await answers(cached(model.url, None, node_cache={"ttl": 5}), "hi", "hi")
    assert len(model.chat_requests) == 3


@pytest.mark.parametrize(
    ("model_parameters", "request_parameters", "cache", "calls", "status"),
    [
        ({"temperature": 0.7}, {}, True, 2, "bypass"),
        ({}, {"temperature": 0.5}, True, 2, "bypass"),
        ({"temperature": 0.7}, {"temperature": 0}, True, 1, "hit"),  # the call's own parameter wins
        ({"temperature": 0}, {}, True, 1, "hit"),
        ({}, {}, True, 1, "hit"),  # no temperature at all: repeatable answers were asked for
        ({"temperature": 0.7}, {}, {"temperature": True}, 1, "hit"),
    ],
)
async def test_sampled_answers_are_kept_only_when_asked(
    fake_server, model_parameters, request_parameters, cache, calls: int, status: str
):
    model = fake_server(echo)
    data = cached(model.url, cache, parameters=model_parameters)
    results = await answers(data, "q", "q", parameters=request_parameters)
    assert len(model.chat_requests) == calls
    assert results[1].trace.hops[0].cache == status


async def test_a_hit_streams_the_kept_answer_as_one_piece(fake_server):
    model = fake_server("a long answer in several words")
    pieces: list[list[str]] = [[], []]
    async with Pipeline.from_dict(cached(model.url)) as pipe:
        for kept in pieces:
            await pipe.run("hi", on_token=kept.append)
    assert len(pieces[0]) > 1 and pieces[1] == ["a long answer in several words"]
    assert len(model.chat_requests) == 1


async def test_a_failed_call_is_never_kept(fake_server):
    model = fake_server(echo)
    model.push(status=500)
    async with Pipeline.from_dict(cached(model.url)) as pipe:
        with pytest.raises(Exception, match="HTTP 500"):
            await pipe.run("hi")
        assert (await pipe.run("hi")).trace.hops[0].cache == "miss"
        assert (await pipe.run("hi")).trace.hops[0].cache == "hit"
    assert len(model.chat_requests) == 2


async def test_the_size_bound_drops_the_least_recently_used(fake_server):
    model = fake_server(echo)
    results = await answers(cached(model.url, {"max-entries": 2}), "a", "b", "a", "c", "a", "b")
    statuses = [r.trace.hops[0].cache for r in results]
    # "c" pushes out "b" (used longer ago than "a"), so "a" is still kept and "b" is asked again
    assert statuses == ["miss", "miss", "hit", "miss", "hit", "miss"]
    assert len(model.chat_requests) == 4


class Clock:
    """A clock the test moves by hand."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_cache_expires_on_its_clock_and_keeps_its_bound():
    clock = Clock()
    cache = MemoryCache(CacheSpec(max_entries=2), Resources(), clock)
    await cache.set("a", "A", ttl=10)
    clock.now += 9.9
    assert await cache.get("a") == "A"
    clock.now += 0.1
    assert await cache.get("a") is None and len(cache) == 0
    for key in "xyz":
        await cache.set(key, key.upper(), ttl=60)
    assert [await cache.get(k) for k in "xyz"] == [None, "Y", "Z"]


class ClockedMemory(MemoryCache):
    """The memory backend on a clock the test moves."""

    clock_now: ClassVar[Clock] = Clock()

    def __init__(self, spec: CacheSpec, resources: Resources) -> None:
        super().__init__(spec, resources, ClockedMemory.clock_now)


class ClockedMemoryPlugin:
    @hookimpl
    def llmnet_register_caches(self, register: Any) -> None:
        register("memory", ClockedMemory)  # a plugin may replace the built-in backend


async def test_an_answer_is_kept_for_the_ttl(fake_server, register_plugin):
    register_plugin(ClockedMemoryPlugin(), "clocked-memory")
    model = fake_server(echo)
    clock = ClockedMemory.clock_now
    async with Pipeline.from_dict(cached(model.url, {"ttl": 30})) as pipe:
        await pipe.run("hi")
        clock.now += 29
        assert (await pipe.run("hi")).trace.hops[0].cache == "hit"
        clock.now += 1
        assert (await pipe.run("hi")).trace.hops[0].cache == "miss"
    assert len(model.chat_requests) == 2


async def test_a_router_s_decision_is_kept_too(fake_server):
    router = fake_server("sales")
    sales, support = fake_server(echo), fake_server(echo)
    data = {
        "models": {
            "router": {"type": "external", "url": router.url},
            "sales": {"type": "external", "url": sales.url},
            "support": {"type": "external", "url": support.url},
        },
        "architecture": [
            {"name": "entry", "layer": 0, "model": "router", "cache": True, "output-to": [1]},
            {"name": "sales", "layer": 1, "model": "sales", "use-case": "prices", "output-to": ["output"]},
            {"name": "support", "layer": 1, "model": "support", "use-case": "help", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    first, second = await answers(data, "price?", "price?")
    assert first.output == second.output == "answer to price?"
    assert len(router.chat_requests) == 1 and len(sales.chat_requests) == 2  # only the router caches
    assert second.trace.hops[0].cache == "hit" and second.trace.hops[1].cache is None


async def test_fallbacks_and_the_cache_together(fake_server):
    down, backup = fake_server(), fake_server(echo)
    data = cached(down.fault_url("500"))
    data["models"]["backup"] = {"type": "external", "url": backup.url}
    data["architecture"][0]["fallback"] = ["backup"]
    first, second = await answers(data, "hi", "hi")
    assert first.output == second.output == "answer to hi"
    assert second.trace.hops[0].answered_by == "backup" and second.trace.hops[0].cache == "hit"
    assert len(backup.chat_requests) == 1


def request(text: str = "hi", **parameters: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), model="m", parameters=parameters, node="a")


def test_the_key_depends_on_the_question_the_model_and_the_parameters_only():
    spec = ModelSpec(name="m", backend="openai-api", url="http://h", api_key="sk-secret-1")
    key = cache_key(request(), spec)
    assert key is not None and len(key) == 64
    other_asker = ChatRequest(messages=(Message("user", "hi"),), model="m", node="b", request_id="r2")
    assert cache_key(other_asker, spec) == key
    assert cache_key(request(), ModelSpec("m", "openai-api", "http://h", "sk-other-key")) == key
    assert cache_key(request("other"), spec) != key
    assert cache_key(request(max_tokens=3), spec) != key
    assert cache_key(request(), ModelSpec("m", "openai-api", "http://elsewhere")) != key
    assert cache_key(request(), ModelSpec("m", "openai-api", "http://h", parameters={"top_p": 0.5})) != key
    assert cache_key(request(stop=object()), spec) is None  # no JSON form: not cached


def test_the_temperature_rule():
    spec = ModelSpec(name="m", backend="x", parameters={"temperature": 0.8})
    assert samples(request(), spec)
    assert not samples(request(temperature=0), spec)
    assert not samples(request(), ModelSpec(name="m", backend="x"))
    assert samples(request(temperature="warm"), spec)


def problems(data: dict[str, Any], host: Any) -> list[tuple[str, str, str]]:
    _, found = validate_composition(data, registries=host.registries)
    return [(p.path, p.message, p.severity) for p in found]


def test_validate_checks_the_cache_settings(host, monkeypatch):
    monkeypatch.delenv("NO_SUCH_CACHE_URL", raising=False)
    assert problems(cached("http://127.0.0.1:1", {"ttl": 0}), host) == [
        ("settings.cache.ttl", "Input should be greater than 0", "error")
    ]
    assert problems(cached("http://127.0.0.1:1", {"max-entires": 5}), host) == [
        ("settings.cache.max-entires", "unknown key", "error")
    ]
    assert problems(cached("http://127.0.0.1:1", None, node_cache={"backend": "nowhere"}), host)[0][:2] == (
        "architecture[0].cache.backend",
        'no installed plugin provides the cache backend "nowhere"',
    )
    assert problems(cached("http://127.0.0.1:1", {"url": "$NO_SUCH_CACHE_URL"}), host) == [
        ("settings.cache.url", "environment variable NO_SUCH_CACHE_URL is not set", "error")
    ]
    data = cached("http://127.0.0.1:1")
    data["architecture"][1]["cache"] = True
    assert problems(data, host) == [
        ("architecture[1].cache", "this node calls no model: its cache is ignored", "warning")
    ]
