"""The server's pure parts, in-process: how failures map to HTTP statuses, the model id, and which
request fields become the pipeline's sampling parameters (checked by the same rules as the core's)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llmnet_serve.chat import describe_failure
from llmnet_serve.settings import make_settings
from llmnet_serve.state import model_id
from llmnet_serve.wire import SAMPLING_FIELDS, RequestError, parse_chat_request

from llmnet_core import (
    BackendError,
    BackendTimeoutError,
    Pipeline,
    PipelineError,
    StepTimeoutError,
    TransportTimeoutError,
    UsageError,
    parameter_problem,
)


def same(text: str) -> str:
    return text


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (BackendTimeoutError('node "a": http://m did not answer within 3 s'), 504, "backend_timeout"),
        (StepTimeoutError('node "a": pre-hook "audit" (rest) failed: no answer'), 504, "step_timeout"),
        (TransportTimeoutError("peer gave no answer"), 504, "step_timeout"),
        # the type decides, not the words: a failure that mentions "within 3 s" is still a 502
        (BackendError('node "a": http://m answered HTTP 500: timed out within 3 s'), 502, "backend_error"),
        (PipelineError('node "a" has no model'), 502, "pipeline_error"),
        (TimeoutError(), 504, "timeout"),
        (RuntimeError("bug"), 500, "internal_error"),
    ],
)
def test_failures_map_to_statuses_by_type(error: BaseException, status: int, code: str) -> None:
    got_status, message, got_code = describe_failure(error, same)
    assert (got_status, got_code) == (status, code)
    assert message


async def test_a_usage_error_is_the_clients_mistake_before_the_pipeline_and_not_at_a_node(
    host: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError) as refused:  # the core's check of the request's own parameters
        await Pipeline.from_dict(composition()).run("hi", parameters={"top_p": 0})
    status, message, code = describe_failure(refused.value, same)
    assert (status, code) == (400, "invalid_request")
    assert message.startswith("parameters.top_p must be a number above 0")
    unset_key = composition()
    unset_key["models"]["m"]["api-key"] = "$LLMNET_SERVE_TEST_UNSET_KEY"
    monkeypatch.setenv("LLMNET_SERVE_TEST_UNSET_KEY", "set-while-loading")  # loading refuses it unset
    pipeline = Pipeline.from_dict(unset_key)
    monkeypatch.delenv("LLMNET_SERVE_TEST_UNSET_KEY")
    with pytest.raises(UsageError) as misconfigured:  # the server's configuration, found at a node
        await pipeline.run("hi")
    status, message, code = describe_failure(misconfigured.value, same)
    assert (status, code) == (502, "usage_error")
    assert "LLMNET_SERVE_TEST_UNSET_KEY is not set" in message


def composition(**extra: Any) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": "http://127.0.0.1:9"}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
        **extra,
    }


def test_model_id_is_the_option_then_the_composition_name_then_the_file_stem(host: Any) -> None:
    settings = make_settings(composition="folder/support.json")
    named = Pipeline.from_dict(composition(name="support-bot"))
    assert model_id(settings, named) == "support-bot"
    assert model_id(settings, Pipeline.from_dict(composition())) == "support"
    assert model_id(make_settings(composition="x.json", model_id="mine"), named) == "mine"


def body(**fields: Any) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def test_sampling_fields_become_parameters() -> None:
    chat = parse_chat_request(body(temperature=0, top_p=1, max_tokens=9, stop="END", seed=-3))
    assert chat.parameters == {"temperature": 0, "top_p": 1, "max_tokens": 9, "stop": "END", "seed": -3}
    newer = parse_chat_request(body(max_tokens=9, max_completion_tokens=5, temperature=None))
    assert newer.parameters == {"max_tokens": 5}  # the newer name wins; null means "not given"
    plain = parse_chat_request(body(frequency_penalty=1, logit_bias={}, user="u"))
    assert plain.parameters == {}  # fields the pipeline does not pass on are ignored


BAD_SAMPLING = [
    ("temperature", -1),
    ("temperature", "hot"),
    ("temperature", True),
    ("top_p", 0),
    ("top_p", 1.5),
    ("top_p", "0.5"),
    ("max_tokens", 0),
    ("max_tokens", 2.5),
    ("max_completion_tokens", 0),
    ("max_completion_tokens", True),
    ("seed", "7"),
    ("seed", 1.0),
    ("stop", [1]),
    ("stop", 5),
]


@pytest.mark.parametrize(("field", "value"), BAD_SAMPLING)
async def test_serve_refuses_the_sampling_values_the_core_refuses(host: Any, field: str, value: Any) -> None:
    parameter = SAMPLING_FIELDS[field]
    with pytest.raises(UsageError, match=rf"^parameters\.{parameter} must be "):
        await Pipeline.from_dict(composition()).run("hi", parameters={parameter: value})
    with pytest.raises(RequestError) as caught:
        parse_chat_request(body(**{field: value}))
    error = caught.value
    assert (error.status, error.param, error.code) == (400, field, "invalid_value")
    assert error.message == f"'{field}' {parameter_problem(parameter, value)}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 0),
        ("temperature", 1.7),
        ("top_p", 1),
        ("top_p", 0.01),
        ("max_tokens", 1),
        ("max_completion_tokens", 4096),
        ("seed", -3),
        ("stop", "END"),
        ("stop", ["a", "b"]),
        ("stop", []),
    ],
)
def test_serve_accepts_the_sampling_values_the_core_accepts(field: str, value: Any) -> None:
    parameter = SAMPLING_FIELDS[field]
    assert parameter_problem(parameter, value) is None
    assert parse_chat_request(body(**{field: value})).parameters == {parameter: value}


def test_every_sampling_field_sets_a_per_request_parameter_of_the_core() -> None:
    unknown = parameter_problem("frequency_penalty", 1)
    assert unknown == "cannot be set per request"
    assert all(parameter_problem(parameter, 1) != unknown for parameter in SAMPLING_FIELDS.values())


def test_messages_after_the_last_user_message_are_accepted() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a partial answer"},
    ]
    chat = parse_chat_request(json.dumps({"messages": messages}).encode())
    assert [m.role for m in chat.messages] == ["user", "assistant"]
