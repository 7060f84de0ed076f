"""The `parameters` of an `openai-api` model entry are typed: a bad value is a problem at its JSON path
with a hint saying what the parameter takes; a server's own parameters pass as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_openai.options import parameter_problems

from llmnet_core import ModelSpec
from llmnet_core.cli import cli


def problems(**parameters: Any) -> list[tuple[str, str, str | None]]:
    spec = ModelSpec(name="m", backend="openai-api", parameters=parameters, base_dir=Path.cwd())
    return [(p.path, p.message, p.hint) for p in parameter_problems(spec)]


def test_what_servers_take_passes() -> None:
    assert not problems(
        temperature=0,  # a whole number is a number
        top_p=0.9,
        max_tokens=256,
        max_completion_tokens=512,
        seed=-7,
        stop=["\n\n", "###"],
        presence_penalty=-2,
        frequency_penalty=1.5,
        logit_bias={"50256": -100},
        top_k=-1,
        min_p=0.05,
        user="team-a",
    )
    assert not problems(stop="END", seed=None)
    # a server's own parameters go to it unchecked
    assert not problems(repetition_penalty=1.1, cache_prompt=True, chat_template_kwargs={"x": 1})


@pytest.mark.parametrize(
    ("parameters", "path", "hint"),
    [
        ({"temperature": "hot"}, "temperature", "temperature takes a number without quotes, ≥ 0"),
        ({"temperature": "0.7"}, "temperature", "without quotes"),
        ({"temperature": True}, "temperature", "≥ 0"),
        ({"temperature": -0.1}, "temperature", "≥ 0"),
        ({"top_p": 0}, "top_p", "above 0 and at most 1"),
        ({"top_p": 1.5}, "top_p", "above 0 and at most 1"),
        ({"max_tokens": 0}, "max_tokens", "a whole number ≥ 1"),
        ({"max_tokens": 12.5}, "max_tokens", "a whole number ≥ 1"),
        ({"max_tokens": "256"}, "max_tokens", "a whole number ≥ 1"),
        ({"seed": 1.5}, "seed", "a whole number"),
        ({"stop": 3}, "stop", "a text or a list of texts"),
        ({"stop": ["a", 3]}, "stop", "a text or a list of texts"),
        ({"presence_penalty": 3}, "presence_penalty", "from -2 to 2"),
        ({"frequency_penalty": "high"}, "frequency_penalty", "from -2 to 2"),
        ({"logit_bias": {"50256": -101}}, "logit_bias.50256", "from -100 to 100"),
        ({"top_k": "many"}, "top_k", "a whole number"),
        ({"min_p": 2}, "min_p", "from 0 to 1"),
    ],
)
def test_a_bad_value_is_named_at_its_path_with_a_hint(parameters: dict[str, Any], path: str, hint: str):
    [(place, message, given)] = problems(**parameters)
    assert place == f"models.m.parameters.{path}"
    assert message and hint in (given or "")


def test_every_bad_parameter_is_reported_and_no_value_is_shown() -> None:
    found = problems(temperature="sk-secret-value", top_p=7, max_tokens=256)
    assert [path for path, _, _ in found] == ["models.m.parameters.temperature", "models.m.parameters.top_p"]
    assert "sk-secret-value" not in repr(found)


def test_a_kebab_case_name_is_refused_with_the_name_servers_read() -> None:
    [(place, message, hint)] = problems(**{"max-tokens": 256})
    assert place == "models.m.parameters.max-tokens"
    assert "did you mean max_tokens" in message and "write max_tokens" in (hint or "")


def test_validate_refuses_a_bad_temperature(host: Any, tmp_path: Path) -> None:
    composition = {
        "models": {
            "m": {"type": "external", "url": "http://127.0.0.1:9/v1", "parameters": {"temperature": "hot"}}
        },
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "models.m.parameters.temperature: Input should be a valid number" in result.stderr
    assert "temperature takes a number without quotes" in result.stderr
