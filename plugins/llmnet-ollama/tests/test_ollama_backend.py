"""The `ollama` backend against a real HTTP server speaking Ollama's API (llmnet_testing's fake)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from llmnet_http import idle_connections
from llmnet_ollama.backend import OllamaBackend
from llmnet_ollama.config import base_url, default_url, split_parameters
from llmnet_testing import FakeOllamaServer, free_port

from llmnet_core import BackendError, BackendTimeoutError, ChatRequest, Message, ModelSpec, Resources, Usage
from llmnet_core.plugins import PluginHost

FAST = {"retry-backoff": 0.01}
CANARY = "ol-canary-7c1e5d3f9a"


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(reply="Hello there, small model world") as srv:
        yield srv


def make(resources: Resources, url: str | None, **kwargs: Any) -> OllamaBackend:
    options = {**FAST, **kwargs.pop("options", {})}
    kwargs.setdefault("wire_model", "llama3.2")
    spec = ModelSpec(name="m", backend="ollama", url=url, options=options, **kwargs)
    return OllamaBackend(spec, resources)


def ask(text: str = "say hello", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("system", "be brief"), Message("user", text)), **kwargs)


async def collect(backend: OllamaBackend, request: ChatRequest) -> list[Any]:
    return [chunk async for chunk in backend.stream(request)]


# -- chat -------------------------------------------------------------------------------------------


async def test_complete_returns_text_usage_model_and_reason(server, resources) -> None:
    reply = await make(resources, server.url).complete(ask("say hello"))
    assert reply.text == "Hello there, small model world"
    assert reply.usage == Usage(prompt_tokens=4, completion_tokens=5)  # prompt_eval_count, eval_count
    assert reply.model == "llama3.2"
    assert reply.finish_reason == "stop"
    (sent,) = server.chat_requests
    assert sent.path == "/api/chat"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}],
        "stream": False,
    }


async def test_model_name_on_the_wire(resources) -> None:
    with FakeOllamaServer(models=["m", "qwen2.5:0.5b"]) as srv:
        await make(resources, srv.url, wire_model=None).complete(ask())  # falls back to the entry's key
        await make(resources, srv.url).complete(ask(model="qwen2.5:0.5b"))  # the engine's choice wins
    assert [r.json["model"] for r in srv.chat_requests] == ["m", "qwen2.5:0.5b"]


# -- streaming --------------------------------------------------------------------------------------


async def test_stream_yields_tokens_in_order_with_usage_at_the_end(server, resources) -> None:
    chunks = await collect(make(resources, server.url), ask("stream this please"))
    texts = [c.text for c in chunks if c.text]
    assert texts == ["Hello", " there,", " small", " model", " world"]
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].usage == Usage(prompt_tokens=5, completion_tokens=5)
    assert chunks[-1].finish_reason == "stop" and chunks[-1].text == ""
    assert server.chat_requests[0].json["stream"] is True


async def test_stream_delivers_tokens_before_the_answer_is_finished(resources) -> None:
    with FakeOllamaServer(reply="one two three four", pause_after=2) as held:
        stream = make(resources, held.url).stream(ask())
        first = await asyncio.wait_for(anext(stream), 10)
        second = await asyncio.wait_for(anext(stream), 10)
        assert (first.text, second.text) == ("one", " two")  # the server still holds the rest
        held.resume()
        rest = [chunk async for chunk in stream]
    assert "".join(c.text for c in rest) == " three four"
    assert rest[-1].usage == Usage(prompt_tokens=4, completion_tokens=4)


async def test_stream_reuses_the_connection(server, resources) -> None:
    backend = make(resources, server.url)
    for _ in range(3):
        await collect(backend, ask())
    assert len(server.chat_requests) == 3
    assert idle_connections(backend._upstream()) == 1  # each stream was read to its end


async def test_stream_abandoned_early_leaves_the_backend_usable(server, resources) -> None:
    backend = make(resources, server.url)
    stream = backend.stream(ask())
    assert (await anext(stream)).text == "Hello"
    await stream.aclose()  # type: ignore[attr-defined]
    assert (await backend.complete(ask())).text.startswith("Hello")


async def test_stream_error_in_the_middle(server, resources) -> None:
    server.push(error="llama runner process has terminated: signal: killed")
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url), ask())
    assert info.value.message == (
        f"Ollama at {server.url} reported an error in the middle of the answer: "
        "llama runner process has terminated: signal: killed"
    )


async def test_stream_cut_before_done_is_an_error(server, resources) -> None:
    cut = FakeOllamaServer(reply="a b c", pause_after=1, pause_timeout=0.2)
    with cut, pytest.raises(BackendError, match="broke in the middle of the answer") as info:
        await collect(make(resources, cut.url), ask())
    assert "ollama serve" in (info.value.hint or "")
    line = {"model": "llama3.2", "message": {"role": "assistant", "content": "a"}, "done": False}
    server.push(body=json.dumps(line) + "\n", headers={"Content-Type": "application/x-ndjson"})
    with pytest.raises(BackendError, match="ended before Ollama said it was done"):
        await collect(make(resources, server.url), ask())


async def test_stream_from_a_server_that_answers_one_object(server, resources) -> None:
    whole = {"model": "llama3.2", "message": {"role": "assistant", "content": "plain"}, "done": True}
    server.push(body=json.dumps(whole, indent=2))
    chunks = await collect(make(resources, server.url), ask())
    assert "".join(c.text for c in chunks) == "plain"
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage == Usage()


# -- options and keep_alive -------------------------------------------------------------------------


async def test_parameters_become_ollama_options(server, resources) -> None:
    backend = make(
        resources,
        server.url,
        parameters={
            "temperature": 0.7,
            "top_p": 0.9,
            "top-k": 40,
            "max_tokens": 64,
            "stop": "###",
            "seed": 7,
            "n_ctx": 8192,
            "repeat_penalty": 1.1,
            "keep_alive": "10m",
            "format": "json",
            "model": "ignored",
            "stream": True,
        },
        options={"runner": "ollama", "options": {"num_thread": 4, "mirostat": 0}},
    )
    await backend.complete(ask(parameters={"temperature": 0, "num_predict": 16}))
    sent = server.chat_requests[0].json
    assert sent["options"] == {
        "num_thread": 4,
        "mirostat": 0,
        "temperature": 0.0,  # the request's own parameters win over the model's
        "top_p": 0.9,
        "top_k": 40,
        "num_predict": 16,
        "stop": ["###"],
        "seed": 7,
        "num_ctx": 8192,
        "repeat_penalty": 1.1,
    }
    assert sent["keep_alive"] == "10m"
    assert sent["format"] == "json"
    assert sent["model"] == "llama3.2" and sent["stream"] is False


@pytest.mark.parametrize(
    ("written", "sent"), [("30m", "30m"), (0, 0), (-1, -1), ("300", 300), ("1h30m", "1h30m")]
)
async def test_keep_alive_as_a_model_option(server, resources, written: Any, sent: Any) -> None:
    await make(resources, server.url, options={"keep-alive": written}).complete(ask())
    assert server.chat_requests[0].json["keep_alive"] == sent
    assert "options" not in server.chat_requests[0].json


async def test_response_format_and_think_are_top_level(server, resources) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    parameters = {
        "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
        "think": False,
    }
    await make(resources, server.url, parameters=parameters).complete(ask())
    sent = server.chat_requests[0].json
    assert sent["format"] == schema and sent["think"] is False and "options" not in sent


async def test_num_predict_limit_gives_finish_reason_length(server, resources) -> None:
    reply = await make(resources, server.url, parameters={"max_tokens": 2}).complete(ask())
    assert reply.text == "Hello there," and reply.finish_reason == "length"
    chunks = await collect(make(resources, server.url), ask(parameters={"max-tokens": 3}))
    assert chunks[-1].finish_reason == "length" and chunks[-1].usage.completion_tokens == 3


def test_bad_parameters_name_their_place(resources) -> None:
    cases = [
        (
            {"parameters": {"temperature": "hot"}},
            r'models\.m\.parameters\.temperature must be a number, got "hot"',
        ),
        ({"parameters": {"max_tokens": 1.5}}, r"models\.m\.parameters\.max_tokens must be a whole number"),
        ({"parameters": {"stop": 3}}, r"models\.m\.parameters\.stop must be a text or a list of texts"),
        ({"parameters": {"use_mmap": "yes"}}, r"models\.m\.parameters\.use_mmap must be true or false"),
        ({"options": {"keep-alive": "5 minutes"}}, r'models\.m\.keep-alive is not a duration: "5 minutes"'),
        ({"options": {"options": {"num_ctx": "big"}}}, r"models\.m\.options\.num_ctx must be a whole number"),
        ({"options": {"timeout": "soon"}}, r"models\.m\.timeout: Input should be a valid number"),
        ({"options": {"retries": -1}}, r"models\.m\.retries: Input should be greater than or equal to 0"),
        ({"options": {"headers": {"X-A": "a\r\nB: c"}}}, r"models\.m\.headers\.X-A: cannot be sent"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(BackendError, match=pattern):
            make(resources, "http://127.0.0.1:1", **kwargs)


async def test_bad_request_parameter_fails_before_sending(server, resources) -> None:
    with pytest.raises(BackendError, match=r"parameters\.top_p must be a number"):
        await make(resources, server.url).complete(ask(parameters={"top_p": [1]}))
    assert server.chat_requests == []


def test_split_parameters_aliases() -> None:
    top, options = split_parameters(
        [("p", {"max_completion_tokens": 5, "context_length": 2048, "repetition_penalty": 1.2, "mystery": 1})]
    )
    assert top == {} and options == {"num_predict": 5, "num_ctx": 2048, "repeat_penalty": 1.2, "mystery": 1}


# -- addresses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/", "/v1", "/v1/", "/api/chat"])
async def test_url_forms(server, resources, suffix: str) -> None:
    backend = make(resources, server.url + suffix)
    assert backend.location == f"{server.url}/api/chat"
    assert (await backend.complete(ask())).text.startswith("Hello")
    assert server.chat_requests[0].path == "/api/chat"


def test_base_url_and_default() -> None:
    assert base_url("localhost") == "http://localhost:11434"
    assert base_url("gpu-box:8080/api/") == "http://gpu-box:8080"
    assert base_url("https://proxy.example.com/ollama/v1/") == "https://proxy.example.com/ollama"
    assert default_url({}) == "http://localhost:11434"
    assert default_url({"OLLAMA_HOST": "0.0.0.0"}) == "http://127.0.0.1:11434"
    assert default_url({"OLLAMA_HOST": "https://ollama.internal:443"}) == "https://ollama.internal:443"


def test_no_url_means_localhost_or_ollama_host(resources, monkeypatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert make(resources, None, options={"runner": "ollama"}).location == "http://localhost:11434/api/chat"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:12345")
    assert make(resources, None).location == "http://127.0.0.1:12345/api/chat"
    with pytest.raises(BackendError, match="is not an http"):
        make(resources, "ftp://host/")


# -- failures ---------------------------------------------------------------------------------------


async def test_missing_model_names_model_and_url_and_says_pull(server, resources) -> None:
    for stream in (False, True):
        backend = make(resources, server.url, wire_model="llama3.3:70b")
        with pytest.raises(BackendError) as info:
            await (collect(backend, ask()) if stream else backend.complete(ask()))
        err = info.value
        assert err.message == f'model "llama3.3:70b" is not available on the Ollama server at {server.url}'
        assert err.hint is not None and 'Download it with "ollama pull llama3.3:70b"' in err.hint
        assert "Installed there: llama3.2:latest, qwen2.5:0.5b." in err.hint
        assert err.status == 404
    assert [r.path for r in server.requests] == ["/api/chat", "/api/tags"] * 2


async def test_missing_model_on_an_empty_server(resources) -> None:
    with FakeOllamaServer(models=[]) as empty, pytest.raises(BackendError) as info:
        await make(resources, empty.url).complete(ask())
    assert "No models are installed there yet." in (info.value.hint or "")


async def test_server_down_says_start_ollama(resources) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError) as info:
        await make(resources, url).complete(ask())
    err = info.value
    assert err.message == f"could not reach Ollama at {url} (connection refused after 3 attempts)"
    assert (
        err.hint
        == 'Is Ollama running? Start it with "ollama serve" (or open the Ollama app), or check models.m.url.'
    )
    assert err.url == f"{url}/api/chat"


async def test_server_down_while_streaming_without_retries(resources) -> None:
    backend = make(resources, f"http://127.0.0.1:{free_port()}", options={"retries": 0})
    with pytest.raises(BackendError, match=r"connection refused after 1 attempt\)") as info:
        await collect(backend, ask())
    assert "ollama serve" in (info.value.hint or "")


async def test_5xx_is_retried_then_succeeds(server, resources) -> None:
    server.push(status=503, error="server busy, please try again.  maximum pending requests exceeded")
    server.push(status=500)
    reply = await make(resources, server.url).complete(ask())
    assert reply.text.startswith("Hello") and len(server.chat_requests) == 3


async def test_5xx_always_is_a_clear_error(server, resources) -> None:
    for _ in range(3):
        server.push(status=500, error="llama runner process has terminated")
    with pytest.raises(BackendError) as info:
        await collect(make(resources, server.url), ask())
    assert info.value.message == (
        f"{server.url}/api/chat answered HTTP 500 after 3 attempts: llama runner process has terminated"
    )
    assert info.value.status == 500 and len(server.chat_requests) == 3


async def test_retries_stop_at_the_retry_deadline(server, resources) -> None:
    for _ in range(2):
        server.push(status=503, error="busy", headers={"Retry-After": "5"})
    backend = make(resources, server.url, options={"retries": 5, "retry-deadline": 2})
    with pytest.raises(BackendError) as info:  # the asked wait would end past the deadline: no retry
        await backend.complete(ask())
    assert info.value.message == f"{server.url}/api/chat answered HTTP 503: busy"
    assert len(server.chat_requests) == 1


async def test_400_is_not_retried(server, resources) -> None:
    server.push(
        status=400, error="json: cannot unmarshal string into Go struct field .options of type float32"
    )
    with pytest.raises(BackendError, match="answered HTTP 400: json: cannot unmarshal") as info:
        await make(resources, server.url).complete(ask())
    assert "models.m.parameters" in (info.value.hint or "") and len(server.chat_requests) == 1


async def test_not_an_ollama_server(server, resources) -> None:
    backend = make(resources, server.url + "/elsewhere")
    with pytest.raises(BackendError, match=r"answered HTTP 404: 404 page not found") as info:
        await backend.complete(ask())
    assert "address of an Ollama server" in (info.value.hint or "")
    for body in ("not json", '{"models": []}', '{"message": {"content": 5}, "done": true}'):
        server.push(body=body)
        with pytest.raises(BackendError, match="not an Ollama chat reply"):
            await make(resources, server.url).complete(ask())


async def test_slow_answer_times_out_once(resources) -> None:
    with FakeOllamaServer(delay=5) as slow:
        with pytest.raises(BackendError) as info:
            await make(resources, slow.url, options={"timeout": 0.3}).complete(ask())
        assert info.value.message == f"Ollama at {slow.url}/api/chat did not answer within 0.3 s"
        assert isinstance(info.value, BackendTimeoutError)  # llmnet serve answers it with 504
        assert "models.m.timeout" in (info.value.hint or "") and len(slow.chat_requests) == 1


async def test_api_key_is_sent_and_never_shown(server, resources) -> None:
    await make(resources, server.url, api_key=CANARY).complete(ask())
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {CANARY}"
    server.push(status=401, error=f"bad key {CANARY}")
    with pytest.raises(BackendError) as info:
        await make(resources, server.url, api_key=CANARY).complete(ask())
    text = f"{info.value} {info.value!r} {info.value.url}"
    assert CANARY not in text and "***" in text and info.value.hint == "Check models.m.api-key."


# -- plugin wiring ----------------------------------------------------------------------------------


def test_discovered_through_its_entry_point() -> None:
    entry = PluginHost(environ={}).registries.backends.entries["ollama"]
    assert entry.plugin == "llmnet-ollama" and entry.value is OllamaBackend


def test_import_is_light() -> None:
    code = "import sys, llmnet_ollama; print(sorted(m for m in ('aiohttp', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("url", "options", "parameters"),
    [
        ("file:///etc/passwd", {}, {}),
        ("ftp://x", {}, {}),
        ("http://[::1", {}, {}),
        ("http://127.0.0.1:99999", {}, {}),
        ("http://h", {"keep-alive": "soon"}, {}),
        ("http://h", {"options": {"use_mmap": "yes"}}, {}),
        ("http://h", {}, {"top_k": "many"}),
    ],
)
def test_check_refuses_what_the_constructor_refuses_in_the_same_words(
    resources: Resources, url: str, options: dict[str, Any], parameters: dict[str, Any]
) -> None:
    spec = ModelSpec(name="m", backend="ollama", url=url, options=options, parameters=parameters)
    (problem,) = OllamaBackend.check(spec)
    with pytest.raises(BackendError) as info:
        make(resources, url, options=options, parameters=parameters)
    assert info.value.message == f"{problem.path} {problem.message}" and info.value.hint == problem.hint


def test_check_accepts_a_usable_entry() -> None:
    spec = ModelSpec(name="m", backend="ollama", url="localhost", options={"keep-alive": "5m"})
    assert OllamaBackend.check(spec) == []
