{%- set pkg = cookiecutter.package_name -%}
"""Tests of the plugin: llmnet finds it through its entry point, and a composition that uses
what it registers runs through `llmnet_core.Pipeline`.

Install the plugin first (`pip install -e ".[test]"`), then run `pytest`.
"""

from __future__ import annotations
{% if cookiecutter.kind == "backend" %}
from typing import Any

import pytest
from llmnet_core import (
    BackendError,
    ChatRequest,
    CompositionError,
    Message,
    ModelSpec,
    Pipeline,
    PluginHost,
    Resources,
)

from {{ pkg }} import BACKEND_NAME
from {{ pkg }}.backend import EchoBackend

PLUGIN = "{{ cookiecutter.project_slug }}"


def test_plugin_is_found_through_its_entry_point() -> None:
    host = PluginHost().load()  # a fresh host, with every installed plugin loaded
    assert PLUGIN in host.plugins, f"{PLUGIN} is not installed: run `pip install -e .` first"
    assert not [f for f in host.failures if f.name == PLUGIN]
    assert host.registries.provided_by(PLUGIN) == {"backends": [BACKEND_NAME]}


def composition(**model_options: Any) -> dict[str, Any]:
    """A one-node chatbot whose model is served by the plugin's backend."""
    return {
        "models": {"tiny": {"backend": BACKEND_NAME, **model_options}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "tiny", "output-to": ["out"]},
            {"name": "out", "adapter": "output", "layer": 1},
        ],
    }


async def test_a_one_node_chatbot_answers_with_the_echo_and_its_usage() -> None:
    async with Pipeline.from_dict(composition()) as pipeline:
        result = await pipeline.run("hello there")
    assert result.output == "echo: hello there"
    assert result.trace.path == ["chat", "out"]
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2, 3)


async def test_the_prefix_option_and_streaming() -> None:
    pieces: list[str] = []
    async with Pipeline.from_dict(composition(prefix="you said: ")) as pipeline:
        result = await pipeline.run("hi", on_token=pieces.append)
    assert result.output == "you said: hi"
    assert pieces == ["you", " said:", " hi"]
    assert result.usage.completion_tokens == 3


def test_a_bad_prefix_is_an_error_that_names_the_model() -> None:
    # found when the composition is loaded (and by `llmnet validate`), before any request
    message = r"models\.tiny\.prefix: Input should be a valid string"
    with pytest.raises(CompositionError, match=message):
        Pipeline.from_dict(composition(prefix=3))


def test_a_misspelt_key_is_an_error_with_the_key_it_means() -> None:
    spec = ModelSpec(name="tiny", backend=BACKEND_NAME, options={"prefx": "hi: "})
    problems = EchoBackend.check(spec)
    assert [(p.path, p.message) for p in problems] == [
        ("models.tiny.prefx", 'unknown field (did you mean "prefix"?)')
    ]
    with pytest.raises(CompositionError, match=r"models\.tiny\.prefx: unknown field"):
        Pipeline.from_dict(composition(prefx="hi: "))


def test_the_constructor_refuses_what_check_reports() -> None:
    spec = ModelSpec(name="tiny", backend=BACKEND_NAME, options={"prefix": 3})
    assert EchoBackend.check(spec)
    with pytest.raises(BackendError, match=r"models\.tiny\.prefix"):
        EchoBackend(spec, Resources())


async def test_an_entry_naming_the_backend_as_its_interface() -> None:
    # llmnet passes `interface` (and `runner`) on in spec.options: EchoOptions accepts them
    model = {"type": "external", "interface": BACKEND_NAME, "prefix": "via interface: "}
    async with Pipeline.from_dict({**composition(), "models": {"tiny": model}}) as pipeline:
        result = await pipeline.run("hi")
    assert result.output == "via interface: hi"


async def test_the_last_user_message_is_echoed() -> None:
    backend = EchoBackend(ModelSpec(name="tiny", backend=BACKEND_NAME), Resources())
    messages = (
        Message("system", "be brief"),
        Message("user", "first"),
        Message("assistant", "ok"),
        Message("user", "second"),
    )
    request = ChatRequest(messages=messages, model="tiny")
    response = await backend.complete(request)
    assert response.text == "echo: second"
    assert response.usage.prompt_tokens == 5
{%- else %}
from collections.abc import Iterator
from typing import Any

import pytest
from llmnet_core import (
    Backend,
{%- if cookiecutter.kind == "secret_provider" %}
    BackendError,
{%- endif %}
    ChatRequest,
    ChatResponse,
{%- if cookiecutter.kind == "transport" %}
    FunctionSpec,
    HookCall,
{%- endif %}
    Pipeline,
    PluginHost,
{%- if cookiecutter.kind == "transport" %}
    Resources,
{%- elif cookiecutter.kind == "secret_provider" %}
    SecretError,
    SecretSpec,
{%- endif %}
    get_host,
    hookimpl,
)
{% if cookiecutter.kind == "transport" %}
from {{ pkg }} import TRANSPORT_NAME
from {{ pkg }}.transport import UpperTransport, upper
{%- elif cookiecutter.kind == "secret_provider" %}
from {{ pkg }} import SOURCE_NAME
from {{ pkg }}.provider import StaticProvider
{%- else %}
from {{ pkg }} import FUNCTION_NAME
from {{ pkg }}.conditions import is_question
{%- endif %}

PLUGIN = "{{ cookiecutter.project_slug }}"
TEST_BACKEND = "{{ cookiecutter.short_name }}-test-model"
{%- if cookiecutter.kind == "secret_provider" %}
TOKEN = "s3cret-token"


class KeyCheckingBackend(Backend):
    """A model for the tests: answers "authorized: <message>", if given the right API key."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self.spec.api_key != TOKEN:
            raise BackendError("the API key is wrong")
        return ChatResponse(text="authorized: " + request.messages[-1].content)
{%- else %}


class ContextEchoBackend(Backend):
    """A model for the tests: answers "<system prompt>: <last user message>"."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        system = next((m.content for m in request.messages if m.role == "system"), "")
        text = request.messages[-1].content
        return ChatResponse(text=f"{system}: {text}" if system else text)
{%- endif %}


class TinyModels:
    """An in-process plugin with the model these tests need (the plugin itself has none)."""

    @hookimpl
    def llmnet_register_backends(self, register: Any) -> None:
{%- if cookiecutter.kind == "secret_provider" %}
        register(TEST_BACKEND, KeyCheckingBackend)
{%- else %}
        register(TEST_BACKEND, ContextEchoBackend)
{%- endif %}


@pytest.fixture
def tiny_model() -> Iterator[None]:
    """Register `TinyModels` with the process-wide plugin host for one test."""
    host = get_host()
    name = host.register(TinyModels(), f"{PLUGIN}-tests")
    try:
        yield
    finally:
        host.unregister(name)


def test_plugin_is_found_through_its_entry_point() -> None:
    host = PluginHost().load()  # a fresh host, with every installed plugin loaded
    assert PLUGIN in host.plugins, f"{PLUGIN} is not installed: run `pip install -e .` first"
    assert not [f for f in host.failures if f.name == PLUGIN]
{%- if cookiecutter.kind == "transport" %}
    assert host.registries.provided_by(PLUGIN) == {"transports": [TRANSPORT_NAME]}


def composition(mode: str = "transform") -> dict[str, Any]:
    """A one-node chatbot whose answer goes through a post-hook of the plugin's type."""
    return {
        "models": {"tiny": {"backend": TEST_BACKEND}},
        "functions": {"shout": {"type": TRANSPORT_NAME}},
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "tiny",
                "context": "echo",
                "output-to": ["out"],
                "hooks": {"post": [{"function": "shout", "mode": mode}]},
            },
            {"name": "out", "adapter": "output", "layer": 1},
        ],
    }


@pytest.mark.usefixtures("tiny_model")
async def test_a_transform_hook_upper_cases_the_answer() -> None:
    async with Pipeline.from_dict(composition()) as pipeline:
        result = await pipeline.run("hello there")
    assert result.output == "ECHO: HELLO THERE"
    (outcome,) = result.trace.hops[0].hooks
    assert (outcome.function, outcome.status, outcome.changed) == ("shout", "ok", True)


@pytest.mark.usefixtures("tiny_model")
async def test_an_observe_hook_leaves_the_answer_as_it_was() -> None:
    async with Pipeline.from_dict(composition(mode="observe")) as pipeline:
        result = await pipeline.run("hello there")
    assert result.output == "echo: hello there"
    (outcome,) = result.trace.hops[0].hooks
    assert (outcome.status, outcome.changed) == ("ok", False)


async def test_json_data_is_upper_cased_inside() -> None:
    spec = FunctionSpec(name="shout", type=TRANSPORT_NAME)
    transport = UpperTransport(spec, Resources())
    call = HookCall(
        function="shout",
        phase="post",
        mode="transform",
        node="chat",
        data={"reply": ["yes", 2, None]},
        variables={},
        timeout=5.0,
    )
    assert await transport.call(call) == {"reply": ["YES", 2, None]}
    assert upper("mixed Case") == "MIXED CASE"
{%- elif cookiecutter.kind == "secret_provider" %}
    assert host.registries.provided_by(PLUGIN) == {"secret sources": [SOURCE_NAME]}


def composition(secret: dict[str, Any]) -> dict[str, Any]:
    """A one-node chatbot whose API key comes from a secret block of the plugin's source."""
    return {
        "secrets": {"demo": {"source": SOURCE_NAME, **secret}},
        "models": {"tiny": {"backend": TEST_BACKEND, "api-key": "$secrets.demo.TOKEN"}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "tiny", "output-to": ["out"]},
            {"name": "out", "adapter": "output", "layer": 1},
        ],
    }


@pytest.mark.usefixtures("tiny_model")
async def test_the_model_gets_its_api_key_from_the_secret() -> None:
    async with Pipeline.from_dict(composition({"values": {"TOKEN": TOKEN}})) as pipeline:
        result = await pipeline.run("hello")
        assert pipeline.secrets == {"demo": {"TOKEN": TOKEN}}
    assert result.output == "authorized: hello"


@pytest.mark.usefixtures("tiny_model")
@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ({}, r'secrets\.demo: .* needs "values"'),
        ({"values": {"TOKEN": 42}}, r"secrets\.demo\.values\.TOKEN must be a string"),
    ],
)
async def test_a_bad_block_is_an_error_that_names_it(secret: dict[str, Any], message: str) -> None:
    with pytest.raises(SecretError, match=message):
        async with Pipeline.from_dict(composition(secret)) as pipeline:
            await pipeline.run("hello")


async def test_the_provider_returns_its_values() -> None:
    options = {"values": {"A": "1", "B": "two"}}
    spec = SecretSpec(name="demo", source=SOURCE_NAME, options=options)
    assert await StaticProvider(spec).load() == {"A": "1", "B": "two"}
{%- else %}
    assert host.registries.provided_by(PLUGIN) == {"conditions": [FUNCTION_NAME + "()"]}


def composition() -> dict[str, Any]:
    """A triage node: questions go to `answer`, everything else to `note`, by condition."""
    return {
        "models": {"tiny": {"backend": TEST_BACKEND}},
        "architecture": [
            {"name": "triage", "layer": 0, "model": "tiny", "output-to": ["answer", "note"]},
            {
                "name": "answer",
                "layer": 1,
                "model": "tiny",
                "context": "answer",
                "if": f"{FUNCTION_NAME}($INPUT)",
                "output-to": ["out"],
            },
            {
                "name": "note",
                "layer": 1,
                "model": "tiny",
                "context": "note",
                "if": f"not {FUNCTION_NAME}($INPUT)",
                "output-to": ["out"],
            },
            {"name": "out", "adapter": "output", "layer": 2},
        ],
    }


@pytest.mark.usefixtures("tiny_model")
@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("how do I reset my password", "answer"),
        ("The printer is on fire, right?", "answer"),
        ("The printer is on fire.", "note"),
    ],
)
async def test_the_condition_routes_questions(text: str, node: str) -> None:
    async with Pipeline.from_dict(composition()) as pipeline:
        result = await pipeline.run(text)
    assert result.output == f"{node}: {text}"
    assert result.trace.path == ["triage", node, "out"]
    triage, chosen = result.trace.hops[0], result.trace.hops[1]
    assert triage.model_calls == 0  # one target was left after the conditions: no model call
    assert chosen.chosen_by == "condition"
    assert chosen.decision == {"conditions": {"answer": node == "answer", "note": node == "note"}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("What time is it", True),
        ("  why, though  ", True),
        ("ok?", True),
        ("Whatever you say.", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_is_question(value: Any, expected: bool) -> None:
    assert is_question(value) is expected
{%- endif %}
{%- endif %}
