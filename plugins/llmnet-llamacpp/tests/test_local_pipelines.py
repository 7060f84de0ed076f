"""Whole pipelines on the bundled model: routing with tiny-model strategies, the default pipeline from the
command line, and a two-layer pipeline through a real llama.cpp server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from llmnet_llamacpp.bundled import bundled_model_path
from llmnet_testing import llama_cpp_server

from llmnet_core import Pipeline

HANDLERS = {
    "weather": ("weather forecasts, rain, snow, temperature outside", ["Will it rain in Paris tomorrow?"]),
    "cooking": ("recipes, cooking and baking food in the kitchen", ["How long do I boil an egg?"]),
    "sports": ("football, tennis, basketball matches and athletes", ["Who won the tennis final?"]),
}
REQUESTS = {
    "Is it going to snow this weekend in Oslo?": "weather",
    "What temperature should the oven be for roasting a chicken?": "cooking",
    "How do I make pancakes?": "cooking",
    "Which team won the football match last night?": "sports",
    "What is the weather forecast for London on Monday?": "weather",
}


def routed(strategy: str) -> dict:
    nodes = [{"name": "router", "layer": 0, "model": "local", "router": strategy, "output-to": [1]}]
    for name, (use_case, examples) in HANDLERS.items():
        nodes.append(
            {
                "name": name,
                "layer": 1,
                "model": "local",
                "use-case": use_case,
                "examples": examples,
                "output-to": [2],
            }
        )
    nodes.append({"name": "out", "adapter": "output", "layer": 2})
    return {
        "models": {"local": {"runner": "llama-cpp", "parameters": {"temperature": 0, "max_tokens": 1}}},
        "architecture": nodes,
    }


@pytest.mark.parametrize("strategy", ["semantic", "constrained"])
async def test_clearly_separable_requests_are_routed(strategy: str):
    async with Pipeline.from_dict(routed(strategy)) as pipeline:
        for text, expected in REQUESTS.items():
            result = await pipeline.run(text)
            handler = result.trace.hops[1]  # a hop records the decision that led to it
            assert handler.node == expected, f"{text!r} went to {handler.node}: {handler.decision}"
            assert handler.decision["strategy"] == strategy
            assert set(handler.decision["scores"]) == set(HANDLERS)


def test_llmnet_run_without_a_composition_answers_offline():
    env = {
        **os.environ,
        "NO_PROXY": "*",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    llmnet = Path(sys.executable).with_name("llmnet")
    done = subprocess.run(
        [str(llmnet), "run", "What is the capital of France?", "--trace"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()  # an answer (sampled at the default temperature: no fixed words)
    assert "loading model" in done.stderr  # progress goes to stderr, never stdout
    assert "loading" not in done.stdout
    assert "facts" in done.stderr  # the trace shows the handler the router chose


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    """A real llama.cpp server (`python -m llama_cpp.server`) on the bundled model."""
    with llama_cpp_server(bundled_model_path(), tmp_path_factory.mktemp("llama-server")) as url:
        yield url


async def test_two_layers_through_a_llama_cpp_server(llama_server: str):
    composition = {
        "models": {
            "server": {
                "runner": "llama-cpp",
                "endpoint": llama_server,
                "parameters": {"temperature": 0, "max_tokens": 12},
            }
        },
        "architecture": [
            {"name": "router", "layer": 0, "model": "server", "output-to": [1]},
            {
                "name": "facts",
                "layer": 1,
                "model": "server",
                "use-case": "questions of fact",
                "output-to": [2],
            },
            {"name": "poems", "layer": 1, "model": "server", "use-case": "poems", "output-to": [2]},
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }
    pieces: list[str] = []
    async with Pipeline.from_dict(composition) as pipeline:
        result = await pipeline.run("What is the capital of France?", on_token=pieces.append)
    router, handler = result.trace.hops[0], result.trace.hops[1]
    assert router.backend == "openai-api" and router.usage.completion_tokens >= 1
    assert handler.node in {"facts", "poems"} and handler.model_calls == 1
    assert result.output and "".join(pieces) == result.output
    assert len(pieces) > 1  # streamed from the server token by token


async def test_a_server_without_json_schemas_is_asked_again_in_plain_text_once(llama_server: str, caplog):
    """llama-cpp-python's server knows no `json_schema` response format and answers HTTP 500 (its
    validation error): after the retries, the `llm` router's question is asked again as capped plain
    text, the backend remembers, and requests are routed all the same (the answer read, or no-match's
    first candidate)."""
    handler = {"layer": 1, "model": "server", "output-to": [2]}
    composition = {
        "models": {"server": {"runner": "llama-cpp", "endpoint": llama_server}},
        "architecture": [
            {"name": "router", "layer": 0, "model": "server", "output-to": [1]},
            {"name": "facts", "use-case": "questions of fact", **handler},
            {"name": "poems", "use-case": "poems", **handler},
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }
    with caplog.at_level(logging.WARNING, logger="llmnet"):
        async with Pipeline.from_dict(composition) as pipeline:
            for question in ["What is the capital of France?", "Write a poem about the sea."]:
                result = await pipeline.run(question, route_only=True)
                router, handler = result.trace.hops[0], result.trace.hops[1]
                assert handler.node in {"facts", "poems"} and handler.decision["reason"]
                assert router.usage.completion_tokens <= len("facts") + 8  # capped: a name, not a paragraph
    refused = [r.getMessage() for r in caplog.records if "refused an answer restricted" in r.getMessage()]
    assert len(refused) == 1 and "HTTP 500" in refused[0] and "json_schema" in refused[0]
