"""The `calculator` backend and the `calculable` condition in real pipelines, found by entry point."""

from __future__ import annotations

import pytest
from llmnet_calc.backend import CalculatorBackend
from llmnet_calc.solve import NOT_FOUND

from llmnet_core import BackendError, ChatRequest, CompositionError, Message, ModelSpec, Pipeline, Resources
from llmnet_core.composition import load_composition


def calculator_only() -> dict:
    return {
        "models": {"calc": {"runner": "calculator"}},
        "architecture": [{"name": "calc", "layer": 0, "model": "calc"}, {"name": "out", "adapter": "output"}],
    }


def test_registered_through_the_entry_point(host):
    assert "calculator" in host.registries.backends
    assert "calculable" in host.registries.condition_functions


async def test_answers_in_a_pipeline_and_streams(host):
    pieces: list[str] = []
    async with Pipeline.from_dict(calculator_only()) as pipeline:
        result = await pipeline.run("What is 12 times 7?", on_token=pieces.append)
        assert result.output == "12 × 7 = 84."
        assert "".join(pieces) == result.output
        assert result.finish_reason == "stop"
        nothing = await pipeline.run("What is the capital of France?")
    assert nothing.output == NOT_FOUND


async def test_reads_the_last_user_message_of_a_conversation(host):
    conversation = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "2 + 2 = 4."},
        {"role": "user", "content": "And what is 15% of 80?"},
    ]
    async with Pipeline.from_dict(calculator_only()) as pipeline:
        result = await pipeline.run(conversation)
    assert result.output == "15% of 80 = 12."


async def test_the_condition_routes_to_the_calculator_only_when_it_can_answer(host, fake_server):
    server = fake_server("from the model")
    composition = {
        "models": {"calc": {"runner": "calculator"}, "m": {"type": "external", "url": server.url}},
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": [1]},
            {"name": "math", "layer": 1, "model": "calc", "if": "calculable($INPUT)"},
            {"name": "chat", "layer": 1, "model": "m", "if": "not calculable($INPUT)"},
            {"name": "out", "adapter": "output"},
        ],
    }
    async with Pipeline.from_dict(composition) as pipeline:
        computed = await pipeline.run("How many minutes are in 3 hours?")
        chatted = await pipeline.run("Tell me about the sea")
    assert computed.trace.path == ["entry", "math", "out"] and computed.output == "3 hours = 180 minutes."
    assert chatted.trace.path == ["entry", "chat", "out"] and chatted.output == "from the model"
    assert len(server.chat_requests) == 1


async def test_refuses_to_choose_among_routes():
    backend = CalculatorBackend(ModelSpec(name="calc", backend="calculator"), Resources())
    request = ChatRequest(messages=(Message("user", "billing or tech?"),), choices=("billing", "tech"))
    with pytest.raises(BackendError, match="cannot choose among routes"):
        await backend.complete(request)


def test_an_address_is_a_validation_error(host):
    data = calculator_only()
    data["models"]["calc"]["url"] = "http://127.0.0.1:9"
    with pytest.raises(CompositionError) as caught:
        load_composition(data, registries=host.registries)
    assert any(p.path == "models.calc.url" and "no address" in p.message for p in caught.value.problems)
