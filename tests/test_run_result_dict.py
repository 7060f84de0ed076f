"""`RunResult.to_dict`, what library callers and `llmnet run --format json` print: the tool calls a model
asked for (OpenAI's form) and the answer's log-probabilities when asked for, the composition's secrets
masked in them as everywhere else; a plain answer keeps exactly the keys it always had."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from llmnet_testing import ToolCalls

from llmnet_core import AnswerOptions, Pipeline

CANARY = f"sk-canary-{secrets.token_hex(12)}"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def leaky(request: dict[str, Any]) -> str | ToolCalls:
    """Asks for the weather with the key in the arguments when offered tools, else says the key."""
    if request.get("tools"):
        return ToolCalls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": f"Nice {CANARY}"}))
    return f"the key is {CANARY} indeed"


def one_node(url: str) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": url, "api-key": "$CANARY_KEY", "retries": 0}},
        "architecture": [
            {"name": "assistant", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.fixture
def model(fake_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CANARY_KEY", CANARY)
    # 3-character pieces: the secret is split across several tokens
    return fake_server(leaky, pieces=lambda text: [text[i : i + 3] for i in range(0, len(text), 3)])


async def ask(url: str, answer: AnswerOptions | None = None) -> dict[str, Any]:
    async with Pipeline.from_dict(one_node(url)) as pipeline:
        result = await pipeline.run("weather?", answer=answer)
        return json.loads(json.dumps(result.to_dict(pipeline.redactor)))


async def test_tool_calls_are_there_in_openais_form_with_secrets_masked(model: Any) -> None:
    data = await ask(model.url, AnswerOptions(tools=(WEATHER,)))
    assert data["finish_reason"] == "tool_calls"
    first, second = data["tool_calls"]
    assert first["id"].endswith("@assistant") and first["id"] != second["id"]
    assert {k: v for k, v in first.items() if k != "id"} == {
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    assert json.loads(second["function"]["arguments"]) == {"city": "Nice ***"}
    assert CANARY[:12] not in json.dumps(data)
    assert "logprobs" not in data  # not asked for


async def test_logprobs_are_there_when_asked_for_with_a_split_secret_masked(model: Any) -> None:
    data = await ask(model.url, AnswerOptions(logprobs=True, top_logprobs=1))
    assert data["output"] == "the key is *** indeed" and data["finish_reason"] == "stop"
    tokens = data["logprobs"]
    assert tokens[0] == {
        "token": "the",
        "logprob": pytest.approx(-0.3),
        "bytes": list(b"the"),
        "top_logprobs": [{"token": "the", "logprob": pytest.approx(-0.3), "bytes": list(b"the")}],
    }
    text = f"the key is {CANARY} indeed"
    first, last = text.index(CANARY), text.index(CANARY) + len(CANARY)
    # every token that overlaps the secret is masked, the others are as the model sent them
    expected = [
        "***" if start < last and first < start + 3 else text[start : start + 3]
        for start in range(0, len(text), 3)
    ]
    assert [t["token"] for t in tokens] == expected
    for token in (t for t in tokens if t["token"] == "***"):  # its bytes and alternatives hidden too
        assert token["bytes"] is None
        assert token["top_logprobs"] == [{"token": "***", "logprob": token["logprob"], "bytes": None}]
    raw = json.dumps(data)
    assert "sk-c" not in raw and CANARY[-6:] not in raw and "tool_calls" not in data


async def test_a_plain_answer_keeps_the_keys_it_always_had(model: Any) -> None:
    data = await ask(model.url)
    assert list(data) == ["output", "finish_reason", "usage", "trace"]
    assert data["output"] == "the key is *** indeed" and data["finish_reason"] == "stop"
