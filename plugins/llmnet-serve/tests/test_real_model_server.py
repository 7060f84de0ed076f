"""`response_format` through `llmnet serve` to a real model server: llama-cpp-python's OpenAI-compatible
server (`python -m llama_cpp.server`) on the bundled Gemma 3 270M, greedy decoding, with the official
`openai` client. That server honours `json_object` under a grammar; it knows no `json_schema` and fails
such a request, which reaches the client as an error naming the node. Skipped where llama-cpp-python's
server or the bundled model is not installed."""

from __future__ import annotations

import json

import openai
import pytest
from llmnet_testing import llama_cpp_server

pytest.importorskip("llama_cpp.server")
bundled = pytest.importorskip("llmnet_llamacpp.bundled")

QUESTION = [
    {"role": "user", "content": "Give the capital of France as a JSON object with the keys city and country."}
]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory):
    with llama_cpp_server(bundled.bundled_model_path(), tmp_path_factory.mktemp("llama-server")) as url:
        yield url


@pytest.fixture(scope="module")
def client(model_server, start_serve, module_dir) -> openai.OpenAI:
    composition = {
        "models": {
            "gemma": {
                "type": "external",
                "url": model_server,
                "retry-backoff": 0.01,
                "timeout": 300,
                "parameters": {"temperature": 0, "max_tokens": 96},
            }
        },
        "architecture": [
            {"name": "facts", "layer": 0, "model": "gemma", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "real.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    return openai.OpenAI(base_url=f"{start_serve(path).url}/v1", api_key="unused", max_retries=0, timeout=600)


def test_a_json_object_answer_whole_and_streamed(client):
    reply = client.chat.completions.create(
        model="m", messages=QUESTION, response_format={"type": "json_object"}
    )
    assert reply.choices[0].finish_reason == "stop"
    document = json.loads(reply.choices[0].message.content)
    assert isinstance(document, dict) and document
    stream = client.chat.completions.create(
        model="m", messages=QUESTION, response_format={"type": "json_object"}, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert json.loads(text) == document  # greedy decoding: the same document


def test_a_format_the_server_does_not_know_is_its_error_naming_the_node(client):
    form = {"type": "json_schema", "json_schema": {"name": "place", "schema": {"type": "object"}}}
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="m", messages=QUESTION, response_format=form)
    assert failed.value.status_code == 502
    assert failed.value.body["message"].startswith('node "facts": ')
