"""Behaviour the earlier (Rust) llmnet had and that files written for it rely on: hop counting, layer
targets, the variables conditions and hooks see. Each test states the earlier tool's rule it checks
(its `runtime/processor.rs` and `runtime/request.rs`); docs/compat.md lists where we differ on purpose."""

from __future__ import annotations

from typing import Any

import pytest

from llmnet_core import (
    Backend,
    ChatRequest,
    ChatResponse,
    HookCall,
    Pipeline,
    RouteDecision,
    Router,
    RouteRequest,
    Transport,
    hookimpl,
)
from llmnet_core.composition import validate_composition
from llmnet_core.errors import HopLimitError


class Tagging(Backend):
    """Answers with its input followed by the model's name, and counts its calls."""

    calls: list[str] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        Tagging.calls.append(self.spec.name)
        return ChatResponse(text=f"{request.messages[-1].content}+{self.spec.name}")


class Recording(Router):
    """Picks the candidate named in the text after `pick:` (else the last one) and records every set of
    candidates it was offered."""

    offered: list[list[str]] = []

    async def choose(self, request: RouteRequest) -> RouteDecision:
        names = [c.name for c in request.candidates]
        Recording.offered.append(names)
        wanted = request.text.split("pick:")[-1].split("+")[0].strip() if "pick:" in request.text else ""
        return RouteDecision(wanted if wanted in names else names[-1], "recorded")


class Keep(Transport):
    """An observe hook that keeps the variables it was called with."""

    seen: list[HookCall] = []

    async def call(self, call: HookCall) -> Any:
        Keep.seen.append(call)
        return None


#: (NODE, CURRENT_LAYER, PREV_NODE, PREV_LAYER, HOP_COUNT, INPUT_LENGTH) each time a condition is tested
SEEN: list[tuple[Any, ...]] = []


def seen(*values: Any) -> bool:
    SEEN.append(values)
    return True


class Plugin:
    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
        register("tagging", Tagging)

    @hookimpl
    def llmnet_register_routers(self, register: Any) -> None:
        register("recording", Recording)

    @hookimpl
    def llmnet_register_transports(self, register: Any) -> None:
        register("keep", Keep)

    @hookimpl
    def llmnet_register_conditions(self, register: Any) -> None:
        register("seen", seen)


@pytest.fixture(autouse=True)
def plugin(register_plugin):
    register_plugin(Plugin(), "compat-test-plugin")
    Tagging.calls, Recording.offered, Keep.seen = [], [], []
    SEEN.clear()


def composition(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"backend": "tagging"}, "r": {"backend": "tagging"}},
        "settings": {"router": "recording"},
        "architecture": [{"name": "router", "layer": 0, "model": "r", "output-to": [1]}, *nodes],
        **extra,
    }


def handler(name: str, layer: int | None = 1, **fields: Any) -> dict[str, Any]:
    node = {"name": name, "model": "m", "output-to": ["output"], **fields}
    if layer is not None:
        node["layer"] = layer
    return node


OUTPUT = {"name": "output", "adapter": "output", "layer": 9}


async def run(data: dict[str, Any], prompt: str = "hello", **kwargs: Any) -> Any:
    async with Pipeline.from_dict(data, **kwargs) as pipe:
        return await pipe.run(prompt)


# -- 1. HOP_COUNT counts handler hops: 0 while the entry chooses, 1 while the first handler chooses --


async def test_hop_count_is_zero_at_the_entry_and_one_at_the_first_handler():
    data = composition(
        handler("first-pass", **{"if": "$HOP_COUNT == 0", "output-to": ["second-pass"]}),
        handler("second-pass", **{"if": "$HOP_COUNT == 1"}),
        OUTPUT,
    )
    result = await run(data)
    assert result.trace.path == ["router", "first-pass", "second-pass", "output"]
    assert result.output == "hello+m+m"


async def test_nine_handler_hops_pass_and_the_tenth_fails_before_its_model_call():
    # a node that always sends its result back to itself; nothing else ends the loop
    def looping(limit_ok: bool) -> dict[str, Any]:
        loop = handler("loop", **{"output-to": ["loop"]})
        if limit_ok:
            loop["output-to"] = ["loop", "output"]
            loop["if"] = "$HOP_COUNT < 9"
            return composition(loop, {"name": "output", "adapter": "output", "if": "$HOP_COUNT >= 9"})
        return composition(loop, OUTPUT)

    result = await run(looping(limit_ok=True))
    assert result.trace.path == ["router", *["loop"] * 9, "output"]
    assert len(Tagging.calls) == 9

    Tagging.calls.clear()
    with pytest.raises(HopLimitError) as info:
        await run(looping(limit_ok=False))
    assert "hop limit 10" in str(info.value)
    assert len(Tagging.calls) == 9  # the tenth handler hop is refused before its model is called


# -- 2. a node whose output-to names its own layer is one of its own candidates ------------------


async def test_a_node_targeting_its_own_layer_can_loop_until_a_condition_ends_it():
    worker = handler("worker", **{"if": "$HOP_COUNT < 3", "output-to": [1, 2]})
    done = {"name": "output", "adapter": "output", "layer": 2, "if": "$HOP_COUNT >= 3"}
    result = await run(composition(worker, done))
    assert result.trace.path == ["router", "worker", "worker", "worker", "output"]
    assert result.output == "hello+m+m+m"


def test_a_node_alone_in_its_layer_may_target_that_layer(host):
    data = composition(handler("recursive-handler", **{"if": "$HOP_COUNT < 5", "output-to": [1]}), OUTPUT)
    _, found = validate_composition(data, registries=host.registries)
    problems = [p for p in found if p.severity == "error"]
    assert problems == []


# -- 3. a layer target means the layer's handlers; its output nodes only when it has none --------


async def test_an_output_node_in_a_layer_with_handlers_is_not_a_candidate():
    data = composition(
        handler("a"), handler("b"), {"name": "early-exit", "adapter": "output", "layer": 1}, OUTPUT
    )
    result = await run(data, "pick: early-exit")  # even asked for, it is not on offer
    assert Recording.offered == [["a", "b"]]
    assert result.trace.path == ["router", "b", "output"]


async def test_a_layer_of_output_nodes_only_offers_them():
    data = composition(
        handler("a", **{"output-to": [2]}),
        {"name": "out-x", "adapter": "output", "layer": 2},
        {"name": "out-y", "adapter": "output", "layer": 2},
    )
    data["architecture"][0]["output-to"] = ["a"]
    result = await run(data, "pick: out-x")
    assert Recording.offered == [["out-x", "out-y"]]
    assert result.trace.path == ["router", "a", "out-x"]


# -- 4. the variables while a node chooses, and inside its hooks ----------------------------------


async def test_variables_while_choosing_are_the_choosing_nodes():
    probe = "seen($NODE, $CURRENT_LAYER, $PREV_NODE, $PREV_LAYER, $HOP_COUNT, $INPUT_LENGTH)"
    data = composition(
        handler("sales", **{"if": probe, "output-to": [2]}),
        {"name": "refiner", "layer": 2, "model": "m", "if": '$PREV_NODE == "sales"', "output-to": [3]},
        {"name": "other", "layer": 2, "model": "m", "if": '$PREV_NODE != "sales"', "output-to": [3]},
        {"name": "output", "adapter": "output", "layer": 3},
    )
    result = await run(data, "héllo")  # 5 characters, 6 UTF-8 bytes
    assert result.trace.path == ["router", "sales", "refiner", "output"]
    # while the entry chooses: its own layer, no previous node, no hop yet; NODE names the candidate
    assert SEEN == [("sales", 0, None, None, 0, 6)]


async def test_hooks_see_their_own_node_as_prev_node_and_count_it():
    hook = {"function": "keep", "mode": "observe"}
    data = composition(
        handler("first", **{"hooks": {"pre": [hook]}, "output-to": ["second"]}),
        handler("second", layer=2, hooks={"pre": [hook]}),
        OUTPUT,
        functions={"keep": {"type": "keep"}},
    )
    data["architecture"][0]["hooks"] = {"pre": [hook]}
    await run(data)
    await_variables = [
        (c.variables["NODE"], c.variables["PREV_NODE"], c.variables["HOP_COUNT"]) for c in Keep.seen
    ]
    assert await_variables == [("router", "", "0"), ("first", "first", "1"), ("second", "second", "2")]


# -- 5. a handler without a layer, targeted by name ----------------------------------------------


@pytest.mark.parametrize("layer", ["absent", "null"])
async def test_a_handler_with_no_layer_is_reached_by_name(host, layer):
    node = handler("helper", layer=None)
    if layer == "null":
        node["layer"] = None
    data = composition(handler("a", **{"output-to": ["helper"]}), node, OUTPUT)
    data["architecture"][0]["output-to"] = ["a"]
    _, problems = validate_composition(data, registries=host.registries)
    assert [p for p in problems if p.severity == "error"] == []
    result = await run(data)
    assert result.trace.path == ["router", "a", "helper", "output"]
    assert result.trace.hops[2].layer is None


# -- 7. model entries the earlier tool's documentation wrote -------------------------------------


def test_type_ollama_is_the_ollama_runner_and_tensorrt_llm_is_refused_like_docker():
    from llmnet_core.composition.schema import ModelConfig
    from llmnet_core.composition.specs import resolve_backend

    book_form = ModelConfig.model_validate({"type": "ollama", "model": "llama3.2:3b"})
    assert resolve_backend(book_form) == resolve_backend(ModelConfig.model_validate({"runner": "ollama"}))
    for runner in ("tensorrt-llm", "docker"):
        backend, reason = resolve_backend(ModelConfig.model_validate({"runner": runner, "source": "m"}))
        assert backend is None and f'runner "{runner}" starts a container' in str(reason)
    with pytest.raises(ValueError, match="'gguf' is not a model type; use 'external' or 'ollama'"):
        ModelConfig.model_validate({"type": "gguf"})
