"""Hook behaviour in the engine (observe, transform, on_failure, if, timeouts), with an in-process
transport so that only the engine's rules are under test; the transport plugins have their own tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from llmnet_core import (
    Backend,
    ChatRequest,
    ChatResponse,
    FunctionSpec,
    HookCall,
    Pipeline,
    PipelineError,
    Resources,
    StepTimeoutError,
    Transport,
    TransportError,
    TransportTimeoutError,
    hookimpl,
)
from llmnet_core.composition.schema import HookConfig
from llmnet_core.hooks import HookRunner
from llmnet_core.trace import Hop


class Echo(Backend):
    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text=f"echo:{request.messages[-1].content}")


class Scripted(Transport):
    """Behaves as its `behaviour` option says: fail, sleep, time out on its own (raise the transports'
    timeout error), or answer its `reply` option. Records the functions whose call was cancelled and
    those whose transport was closed."""

    seen: list[HookCall] = []
    cancelled: list[str] = []
    closed: list[str] = []

    async def call(self, call: HookCall) -> Any:
        Scripted.seen.append(call)
        behaviour = self.spec.options.get("behaviour")
        if behaviour == "fail":
            raise TransportError("peer answered HTTP 500: boom")
        if behaviour == "sleep":
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                Scripted.cancelled.append(call.function)
                raise
        if behaviour == "own-timeout":
            raise TransportTimeoutError(f"peer sent no reply within {self.spec.timeout:g} s")
        return self.spec.options.get("reply")

    async def aclose(self) -> None:
        Scripted.closed.append(self.spec.name)


class Plugin:
    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("echo", Echo)

    @hookimpl
    def llmnet_register_transports(self, register: Any) -> None:
        register("scripted", Scripted)


@pytest.fixture(autouse=True)
def plugin(register_plugin):
    register_plugin(Plugin(), "hook-test-plugin")
    Scripted.seen, Scripted.cancelled, Scripted.closed = [], [], []


def pipeline(pre: list[dict[str, Any]], post: list[dict[str, Any]], **functions: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"backend": "echo"}},
        "functions": {name: {"type": "scripted", **f} for name, f in functions.items()},
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "m",
                "output-to": ["output"],
                "hooks": {"pre": pre, "post": post},
            },
            {"name": "output", "adapter": "output"},
        ],
    }


async def run(data: dict[str, Any], prompt: str = "hi") -> Any:
    async with Pipeline.from_dict(data) as pipe:
        return await pipe.run(prompt)


async def test_a_chain_of_transforms_each_sees_the_previous_result():
    data = pipeline(
        [{"function": "a", "mode": "transform"}, {"function": "b", "mode": "transform"}],
        [{"function": "c", "mode": "transform"}],
        a={"reply": "first"},
        b={"reply": None},  # no change
        c={"reply": {"wrapped": True}},
    )
    result = await run(data)
    assert [c.data for c in Scripted.seen] == ["hi", "first", "echo:first"]
    assert json.loads(result.output) == {"wrapped": True}


async def test_object_results_merge_into_object_data():
    data = pipeline([], [{"function": "a", "mode": "transform"}], a={"reply": {"b": 2}})
    result = await run(data, '{"a": 1}')
    assert result.output == '{"b": 2}'  # the output "echo:..." is not an object: replaced by JSON text
    data = pipeline([{"function": "a", "mode": "transform"}], [], a={"reply": {"b": 2}})
    result = await run(data, '{"a": 1}')
    assert result.output == 'echo:{"a": 1, "b": 2}'


async def test_continue_keeps_the_data_and_records_the_failure():
    data = pipeline([{"function": "bad", "mode": "transform"}], [], bad={"behaviour": "fail"})
    result = await run(data)
    assert result.output == "echo:hi"
    hook = result.trace.hops[0].hooks[0]
    assert hook.status == "failed" and "HTTP 500: boom" in hook.error


async def test_abort_stops_the_pipeline_naming_node_hook_and_cause():
    data = pipeline(
        [{"function": "bad", "mode": "transform", "on_failure": "abort"}], [], bad={"behaviour": "fail"}
    )
    with pytest.raises(PipelineError) as info:
        await run(data)
    assert str(info.value).startswith('node "chat": pre-hook "bad" (scripted) failed: peer answered HTTP 500')


async def test_timeouts_apply_to_every_call():
    data = pipeline(
        [{"function": "slow", "mode": "transform", "on-failure": "abort"}],
        [],
        slow={"behaviour": "sleep", "timeout": 0.2},
    )
    with pytest.raises(StepTimeoutError, match=r"no answer within 0\.2 s") as info:
        await run(data)
    assert isinstance(info.value, PipelineError)
    assert str(info.value).startswith(
        'node "chat": pre-hook "slow" (scripted) failed: no answer within 0.2 s'
    )
    assert info.value.trace.hops[0].hooks[0].status == "timeout"


async def test_a_transports_own_timeout_error_counts_as_a_timeout():
    own = {"behaviour": "own-timeout", "timeout": 0.2}
    aborting = pipeline([{"function": "slow", "mode": "transform", "on_failure": "abort"}], [], slow=own)
    with pytest.raises(StepTimeoutError, match=r"peer sent no reply within 0\.2 s") as info:
        await run(aborting)
    assert not isinstance(info.value, TransportError)  # raised by the hook runner, naming node and hook
    assert 'pre-hook "slow" (scripted)' in info.value.message
    carrying_on = pipeline([{"function": "slow", "mode": "transform"}], [{"function": "slow"}], slow=own)
    result = await run(carrying_on)
    assert result.output == "echo:hi"
    outcomes = result.trace.hops[0].hooks
    assert [(h.phase, h.mode, h.status) for h in outcomes] == [
        ("pre", "transform", "timeout"),
        ("post", "observe", "timeout"),
    ]
    assert all(h.error == "peer sent no reply within 0.2 s" for h in outcomes)


async def test_an_aborting_failure_that_is_no_timeout_stays_an_untyped_pipeline_error():
    data = pipeline(
        [{"function": "bad", "mode": "transform", "on_failure": "abort"}], [], bad={"behaviour": "fail"}
    )
    with pytest.raises(PipelineError) as info:
        await run(data)
    assert not isinstance(info.value, StepTimeoutError)
    assert info.value.trace.hops[0].hooks[0].status == "failed"


async def test_the_hook_runner_itself_raises_the_typed_timeout():
    """The runner, used without the engine, already gives StepTimeoutError for an aborting timeout."""
    resources = Resources()
    transport = Scripted(FunctionSpec("slow", "scripted", {"behaviour": "sleep"}, timeout=0.1), resources)
    runner = HookRunner(lambda name: transport, lambda name: "scripted", {}, lambda text: text)
    hook = HookConfig.model_validate({"function": "slow", "mode": "transform", "on_failure": "abort"})
    hop = Hop(index=0, node="chat", layer=0, role="handler")
    try:
        with pytest.raises(StepTimeoutError, match=r'node "chat": pre-hook "slow" \(scripted\) failed'):
            await runner.run([hook], phase="pre", node="chat", data="hi", variables={}, hop=hop)
    finally:
        await resources.aclose()
    assert hop.hooks[0].status == "timeout" and hop.hooks[0].error == "no answer within 0.1 s"


async def test_observe_hooks_never_block_or_change_data_and_are_awaited_at_close():
    data = pipeline(
        [{"function": "watch"}],
        [{"function": "broken"}],
        watch={"reply": "IGNORED"},
        broken={"behaviour": "fail"},
    )
    async with Pipeline.from_dict(data) as pipe:
        result = await pipe.run("hi")
    assert result.output == "echo:hi"
    statuses = [(h.function, h.status) for h in result.trace.hops[0].hooks]
    assert statuses == [("watch", "ok"), ("broken", "failed")]


async def _started(count: int) -> None:
    """Return once `count` hook calls have started."""
    while len(Scripted.seen) < count:
        await asyncio.sleep(0.01)


async def test_a_stopped_run_cancels_its_observe_hooks_instead_of_waiting_for_them():
    data = pipeline(
        [{"function": "watch"}, {"function": "slow", "mode": "transform"}],
        [],
        watch={"behaviour": "sleep"},
        slow={"behaviour": "sleep"},
    )
    task = asyncio.create_task(run(data))
    await _started(2)
    task.cancel()  # what Ctrl-C, SIGTERM and SIGHUP do to `llmnet run`
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(Scripted.cancelled) == ["slow", "watch"]
    assert sorted(Scripted.closed) == ["slow", "watch"]


async def test_closing_cancelled_while_it_waits_for_observe_hooks_cancels_them_and_closes_the_rest():
    data = pipeline([{"function": "watch"}], [], watch={"behaviour": "sleep"})
    pipe = Pipeline.from_dict(data)
    await pipe.start()
    assert (await pipe.run("hi")).output == "echo:hi"
    await _started(1)
    closing = asyncio.create_task(pipe.aclose())  # waits for the observe hook still running
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert Scripted.cancelled == ["watch"]
    assert Scripted.closed == ["watch"]
    assert not pipe.hooks.pending


async def test_conditional_hook_with_a_numeric_condition():
    data = pipeline(
        [{"function": "long", "mode": "transform", "if": "$WORD_COUNT > 3"}], [], long={"reply": "LONG"}
    )
    assert (await run(data, "one two")).output == "echo:one two"
    assert (await run(data, "one two three four")).output == "echo:LONG"
    assert len(Scripted.seen) == 1
