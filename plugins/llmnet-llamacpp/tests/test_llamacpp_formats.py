"""JSON answers on the real bundled model (Gemma 3 270M, greedy decoding): a `json_schema` response format
gives a document valid under the schema, whole and streamed alike; a schema llama.cpp cannot turn into a
grammar is an error naming the model; tools are refused, naming the node, before the model is asked."""

from __future__ import annotations

import json

import pytest
from llmnet_llamacpp.backend import LlamaCppBackend
from llmnet_llamacpp.formats import answer_grammar

from llmnet_core import (
    AnswerOptions,
    BackendError,
    ChatRequest,
    Message,
    ModelSpec,
    Pipeline,
    Resources,
    UnsupportedFeatureError,
)

PLACE = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
AS_PLACE = AnswerOptions(
    response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": PLACE}}
)


def backend() -> LlamaCppBackend:
    spec = ModelSpec(name="local", backend="llama-cpp", parameters={"temperature": 0, "max_tokens": 64})
    return LlamaCppBackend(spec, Resources())


def ask(answer: AnswerOptions) -> ChatRequest:
    return ChatRequest(
        messages=(Message("user", "What is the capital of France?"),), model="local", answer=answer
    )


def valid_place(text: str) -> bool:
    document = json.loads(text)
    return set(document) == {"city", "country"} and all(isinstance(v, str) for v in document.values())


async def test_a_json_schema_answer_is_valid_under_the_schema() -> None:
    local = backend()
    assert local.supports("json_schema") and local.supports("json_object")
    assert not any(local.supports(f) for f in ("tools", "tool_choice", "logprobs"))
    whole = await local.complete(ask(AS_PLACE))
    assert whole.finish_reason == "stop" and valid_place(whole.text)
    streamed = "".join([chunk.text async for chunk in local.stream(ask(AS_PLACE))])
    assert streamed == whole.text


def test_a_schema_without_a_grammar_is_an_error_naming_the_model() -> None:
    bad = AnswerOptions(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "bogus"}}}
    )
    with pytest.raises(
        BackendError, match=r"model local: llama\.cpp cannot turn the response_format's JSON schema"
    ):
        answer_grammar(bad, "local")
    assert answer_grammar(AnswerOptions(response_format={"type": "json_object"}), "local") is not None
    assert answer_grammar(AnswerOptions(), "local") is None


async def test_tools_are_refused_naming_the_node() -> None:
    composition = {
        "models": {"local": {"runner": "llama-cpp", "parameters": {"temperature": 0, "max_tokens": 64}}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "local", "output-to": ["out"]},
            {"name": "out", "adapter": "output"},
        ],
    }
    tools = AnswerOptions(tools=({"type": "function", "function": {"name": "get_weather"}},))
    async with Pipeline.from_dict(composition) as pipeline:
        with pytest.raises(UnsupportedFeatureError) as refused:
            await pipeline.run("What is the weather in Paris?", answer=tools)
        assert refused.value.message.startswith(
            'node "chat" cannot answer this request: its model "local" (llama-cpp'
        )
        assert refused.value.trace.usage.total_tokens == 0  # no model call
        answered = await pipeline.run("What is the capital of France?", answer=AS_PLACE)
    assert valid_place(answered.output)
