"""The events seam: spans around a request's pieces, seen by observers, through a real pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from llmnet_core import (
    HookCall,
    Observer,
    Pipeline,
    PipelineError,
    Span,
    Transport,
    add_observer,
    current_span,
    events,
    hookimpl,
    span,
)

CANARY = "sk-canary-events-5f2a91"


class Recorder(Observer):
    """Keeps the spans that start and end, in order."""

    def __init__(self) -> None:
        self.started: list[Span] = []
        self.ended: list[Span] = []

    def span_started(self, span: Span) -> None:
        self.started.append(span)

    def span_ended(self, span: Span) -> None:
        self.ended.append(span)

    def of(self, kind: str) -> list[Span]:
        return [s for s in self.ended if s.kind == kind]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    observer = Recorder()
    remove = add_observer(observer)
    yield observer
    remove()


def test_without_observers_a_span_is_a_stand_in_that_keeps_nothing(monkeypatch):
    monkeypatch.setattr(events, "_observers", ())  # whatever the installed plugins registered
    with span("hop", "n", node="n") as observed:
        observed.attributes["answer"] = "private"
        observed.attributes.update(more="x")
        assert observed.recording is False
        assert current_span() is None
    assert "answer" not in observed.attributes and "more" not in observed.attributes


def test_spans_nest_and_carry_attributes(recorder):
    with span("request", "r1", source="library") as outer:
        assert current_span() is outer
        with span("hop", "a", node="a") as inner:
            inner.attributes["role"] = "handler"
        assert current_span() is outer
    assert current_span() is None
    assert [s.name for s in recorder.started] == ["r1", "a"]
    assert [s.name for s in recorder.ended] == ["a", "r1"]
    assert inner.parent is outer and outer.parent is None and inner.root is outer
    assert inner.attributes == {"node": "a", "role": "handler"}
    assert outer.end_ns >= inner.end_ns >= inner.start_ns >= outer.start_ns
    assert inner.duration_s is not None and inner.duration_s >= 0


async def test_tasks_started_inside_a_span_are_its_children(recorder):
    async def child(name: str) -> None:
        with span("hook", name):
            await asyncio.sleep(0)

    with span("request", "r") as outer:
        await asyncio.gather(child("one"), child("two"))
    assert {s.name: s.parent for s in recorder.of("hook")} == {"one": outer, "two": outer}


def test_an_error_is_recorded_redacted_and_still_raised(recorder):
    redact = lambda t: t.replace(CANARY, "***")  # noqa: E731
    with pytest.raises(ValueError), span("request", "r", redact=redact), span("model_call", "n"):
        raise ValueError(f"key {CANARY} refused")
    inner, outer = recorder.ended
    assert inner.error == "ValueError: key *** refused" and outer.error == inner.error
    assert inner.attributes["error_type"] == "ValueError"


def test_a_failing_observer_never_breaks_the_work(recorder):
    class Broken(Observer):
        def span_started(self, span: Span) -> None:
            raise RuntimeError("observer bug")

        def span_ended(self, span: Span) -> None:
            raise RuntimeError("observer bug")

    remove = add_observer(Broken())
    try:
        with span("hop", "n") as observed:
            observed.attributes["ok"] = True
    finally:
        remove()
    assert recorder.ended[0].attributes["ok"] is True  # the observer after it still saw the span
    remove()  # removing twice is harmless


class Brackets(Transport):
    """A transform answers with the data in brackets; observe hooks answer nothing."""

    async def call(self, call: HookCall) -> Any:
        return f"[{call.data}]" if call.mode == "transform" else None


class BracketsPlugin:
    @hookimpl
    def llmnet_register_transports(self, register: Any) -> None:
        register("brackets", Brackets)


def routed(url: str, api_key: str | None = None) -> dict[str, Any]:
    """An entry that routes (by the `if` of its targets) to one of two handlers, one with hooks."""
    model = {"type": "external", "url": url, "api-key": api_key}
    hooks = {
        "pre": [{"function": "wrap", "mode": "transform"}],
        "post": [{"function": "wrap", "mode": "observe"}],
    }
    return {
        "models": {"m": model},
        "functions": {"wrap": {"type": "brackets", "timeout": 5}},
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": [1]},
            {"name": "short", "layer": 1, "model": "m", "if": "$WORD_COUNT < 3", "output-to": ["output"]},
            {
                "name": "long",
                "layer": 1,
                "model": "m",
                "if": "$WORD_COUNT >= 3",
                "output-to": ["output"],
                "hooks": hooks,
            },
            {"name": "output", "adapter": "output"},
        ],
    }


async def test_a_pipeline_run_reports_its_span_tree(recorder, register_plugin, echo_model):
    register_plugin(BracketsPlugin(), "brackets")
    async with Pipeline.from_dict(routed(echo_model.url)) as pipe:
        result = await pipe.run("tell me a story", source="serve", request_id="req-1")
    [request] = recorder.of("request")
    assert request.name == "req-1" and request.parent is None
    attrs = request.attributes
    assert attrs["source"] == "serve" and attrs["composition"] is None
    assert [m.to_dict() for m in attrs["messages"]] == [{"role": "user", "content": "tell me a story"}]
    assert attrs["answer"] == result.output == "model saw: [tell me a story]"
    assert attrs["trace"] is result.trace and attrs["usage"] == result.usage
    assert attrs["redact"] is pipe.redactor and request.error is None
    hops = recorder.of("hop")
    assert [(h.name, h.attributes["role"], h.parent) for h in hops] == [
        ("entry", "router", request),
        ("long", "handler", request),
    ]
    assert hops[1].attributes["hop"] is result.trace.hops[1] and hops[1].attributes["layer"] == 1
    routes = recorder.of("route")
    assert [(r.parent, r.attributes["chosen"], r.attributes["chosen_by"]) for r in routes] == [
        (hops[0], "long", "condition"),
        (hops[1], "output", "only target"),
    ]
    assert routes[0].attributes["candidates"] == ["long"]
    [call] = recorder.of("model_call")
    assert call.parent is hops[1] and call.attributes["model"] == "m"
    assert call.attributes["backend"] == "openai-api" and call.attributes["stream"] is False
    assert call.attributes["usage"] == result.usage and call.attributes["finish_reason"] == "stop"
    hooks = recorder.of("hook")
    assert sorted(
        (h.name, h.attributes["phase"], h.attributes["mode"], h.attributes["status"]) for h in hooks
    ) == [
        ("wrap", "post", "observe", "ok"),
        ("wrap", "pre", "transform", "ok"),
    ]
    assert all(h.parent is hops[1] for h in hooks)


class Requests(Recorder):
    """Sees request spans only."""

    kinds = frozenset({"request"})


async def test_an_observer_sees_only_the_kinds_it_asks_for(monkeypatch, register_plugin, echo_model):
    monkeypatch.setattr(events, "_observers", ())  # whatever the installed plugins registered
    monkeypatch.setattr(events, "_by_kind", {})
    monkeypatch.setattr(events, "_methods", ((), ()))
    register_plugin(BracketsPlugin(), "brackets")
    requests = Requests()
    remove = add_observer(requests)
    try:
        with span("hop", "n") as alone:  # a kind nobody wants is not made at all
            assert alone.recording is False
        # what the engine asks before gathering a span's attributes
        assert events.wants("request") and not events.wants("hop") and not events.wants("model_call")
        async with Pipeline.from_dict(routed(echo_model.url)) as pipe:
            await pipe.run("tell me a story", request_id="req-1")
        assert [(s.kind, s.name) for s in requests.ended] == [("request", "req-1")]
        everything = Recorder()
        remove_all = add_observer(everything)
        assert events.wants("hop") and events.wants("model_call")
        try:
            async with Pipeline.from_dict(routed(echo_model.url)) as pipe:
                await pipe.run("tell me a story", request_id="req-2")
        finally:
            remove_all()
        assert [s.name for s in requests.ended] == ["req-1", "req-2"]
        assert {s.kind for s in everything.ended} == {"request", "hop", "route", "hook", "model_call"}
        [call] = everything.of("model_call")
        assert call.parent is everything.of("hop")[1]  # the tree is whole for the observer of all kinds
    finally:
        remove()


async def test_a_failed_request_ends_its_spans_with_the_redacted_error(
    recorder, host, fake_server, monkeypatch
):
    monkeypatch.setenv("EVENTS_KEY", CANARY)
    server = fake_server("unused")
    server.push(status=401, body=f'{{"error": {{"message": "bad key {CANARY}"}}}}')
    data = routed(server.url, api_key="$EVENTS_KEY")
    data["architecture"][2].pop("hooks")
    data["functions"] = {}
    async with Pipeline.from_dict(data) as pipe:
        with pytest.raises(PipelineError):
            await pipe.run("one two three")
    [request] = recorder.of("request")
    [call] = recorder.of("model_call")
    assert request.error and call.error and call.attributes["error_type"] == "BackendError"
    assert request.attributes["source"] == "library"
    assert "bad key ***" in call.error  # the server echoed the key; the span holds it masked
    for s in recorder.ended:
        assert CANARY not in (s.error or "")
    assert CANARY not in request.attributes["trace"].to_dict(pipe.redactor).__repr__()
