"""Tests of the `openai-api` backend against a real HTTP server (llmnet_testing.FakeOpenAIServer)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from llmnet_http import Slots, idle_connections
from llmnet_openai.backend import OpenAIBackend
from llmnet_openai.wire import SSEParser, chat_completions_url
from llmnet_testing import FakeOpenAIServer, free_port

from llmnet_core import BackendError, BackendTimeoutError, ChatRequest, Message, ModelSpec, Resources, Usage
from llmnet_core.plugins import PluginHost

FAST = {"retry-backoff": 0.01}
CANARY = "sk-canary-3f9a7c1e5d"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply="Hello there, small model world") as srv:
        yield srv


def make(resources: Resources, url: str | None, **kwargs: Any) -> OpenAIBackend:
    options = {**FAST, **kwargs.pop("options", {})}
    spec = ModelSpec(name="m", backend="openai-api", url=url, options=options, **kwargs)
    return OpenAIBackend(spec, resources)


def ask(text: str = "say hello", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("system", "be brief"), Message("user", text)), **kwargs)


async def collect(backend: OpenAIBackend, request: ChatRequest) -> list[Any]:
    return [chunk async for chunk in backend.stream(request)]


# -- complete ---------------------------------------------------------------------------------------


async def test_complete_returns_text_usage_and_model(server: FakeOpenAIServer, resources: Resources) -> None:
    backend = make(resources, server.url, wire_model="qwen-1.5b")
    reply = await backend.complete(ask("say hello"))
    assert reply.text == "Hello there, small model world"
    assert reply.usage == Usage(prompt_tokens=4, completion_tokens=5)
    assert reply.model == "qwen-1.5b"
    assert reply.finish_reason == "stop"
    (sent,) = server.chat_requests
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "qwen-1.5b"
    assert sent.json["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hello"},
    ]
    assert "stream" not in sent.json


async def test_model_name_on_the_wire(server: FakeOpenAIServer, resources: Resources) -> None:
    await make(resources, server.url).complete(ask())
    await make(resources, server.url, wire_model="wire").complete(ask(model="override"))
    assert [r.json["model"] for r in server.chat_requests] == ["m", "override"]


async def test_parameters_and_api_key_arrive(server: FakeOpenAIServer, resources: Resources) -> None:
    backend = make(
        resources,
        server.url,
        api_key=CANARY,
        parameters={"temperature": 0.2, "max_tokens": 64, "model": "ignored"},
        options={"headers": {"X-Team": "research"}},
    )
    await backend.complete(ask(parameters={"max_tokens": 16, "stream": True}))
    (sent,) = server.chat_requests
    assert sent.json["temperature"] == 0.2
    assert sent.json["max_tokens"] == 16
    assert sent.json["model"] == "m"
    assert "stream" not in sent.json
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    assert sent.headers["x-team"] == "research"
    assert sent.headers["content-type"] == "application/json"


async def test_no_authorization_header_without_key(server: FakeOpenAIServer, resources: Resources) -> None:
    await make(resources, server.url, api_key="").complete(ask())
    assert "authorization" not in server.chat_requests[0].headers


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
async def test_url_forms(server: FakeOpenAIServer, resources: Resources, suffix: str) -> None:
    backend = make(resources, server.url + suffix)
    assert backend.location == f"{server.url}/v1/chat/completions"
    assert (await backend.complete(ask())).text.startswith("Hello")
    assert server.chat_requests[0].path == "/v1/chat/completions"


def test_chat_completions_url() -> None:
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://api.example.com/openai/v1/") == (
        "https://api.example.com/openai/v1/chat/completions"
    )
    assert chat_completions_url("h:8000/chat/completions") == "http://h:8000/chat/completions"


async def test_one_pooled_client_per_server(server: FakeOpenAIServer, resources: Resources) -> None:
    first = make(resources, server.url)
    second = make(resources, server.url + "/v1", wire_model="other")
    assert first._upstream() is second._upstream()
    replies = await asyncio.gather(*(first.complete(ask(f"q {i}")) for i in range(20)))
    assert len(replies) == 20 and len(server.chat_requests) == 20


# -- streaming --------------------------------------------------------------------------------------


async def test_stream_chunks_concatenate_to_reply(server: FakeOpenAIServer, resources: Resources) -> None:
    backend = make(resources, server.url + "/v1")
    chunks = await collect(backend, ask("stream this please"))
    assert "".join(c.text for c in chunks) == "Hello there, small model world"
    assert len([c for c in chunks if c.text]) == 5
    last = chunks[-1]
    assert last.usage == Usage(prompt_tokens=5, completion_tokens=5)
    assert last.finish_reason == "stop"
    sent = server.chat_requests[0].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_stream_reuses_connection(server: FakeOpenAIServer, resources: Resources) -> None:
    backend = make(resources, server.url)
    for _ in range(3):
        await collect(backend, ask())
    assert len(server.chat_requests) == 3
    # each stream was read to its end, so one connection served them all and is still kept alive
    assert idle_connections(backend._upstream()) == 1


async def test_stream_tolerates_sse_variants(server: FakeOpenAIServer, resources: Resources) -> None:
    events = [
        ": keep-alive comment",
        "",
        'data:{"choices":[{"index":0,"delta":{"content":"Hi"}}]}',
        "event: message",
        'data: {"choices":[{"index":0,"delta":{"content":" you"}}]}',
        "",
        "data: {",
        'data: "choices":[{"index":0,"delta":{},"finish_reason":"length"}]}',
        "",
        'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}',
        "data: [DONE]",
        "",
    ]
    server.push(body="\n".join(events), headers={"Content-Type": "text/event-stream"})
    chunks = await collect(make(resources, server.url), ask())
    assert "".join(c.text for c in chunks) == "Hi you"
    assert chunks[-1].usage == Usage(3, 2)
    assert chunks[-1].finish_reason == "length"


async def test_stream_error_event(server: FakeOpenAIServer, resources: Resources) -> None:
    body = 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"error":{"message":"out of memory"}}\n\n'
    server.push(body=body, headers={"Content-Type": "text/event-stream"})
    with pytest.raises(BackendError, match="reported an error mid-answer: out of memory"):
        await collect(make(resources, server.url), ask())


async def test_stream_garbage_is_a_clear_error(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(body="data: this is not json\n\n", headers={"Content-Type": "text/event-stream"})
    with pytest.raises(BackendError, match="not a chat completion stream: this is not json"):
        await collect(make(resources, server.url), ask())


async def test_stream_from_server_that_ignores_stream(server: FakeOpenAIServer, resources: Resources) -> None:
    completion = {"choices": [{"message": {"content": "plain"}, "finish_reason": "stop"}]}
    server.push(body=json.dumps(completion))
    chunks = await collect(make(resources, server.url), ask())
    assert "".join(c.text for c in chunks) == "plain"
    assert chunks[-1].finish_reason == "stop"


async def test_stream_retries_before_first_byte(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(status=503)
    chunks = await collect(make(resources, server.url), ask())
    assert "".join(c.text for c in chunks).startswith("Hello")
    assert len(server.chat_requests) == 2


async def test_stream_stalls_past_timeout(resources: Resources) -> None:
    with FakeOpenAIServer(reply="one two three", chunk_delay=2) as slow:
        backend = make(resources, slow.url, options={"timeout": 0.3})
        with pytest.raises(BackendTimeoutError, match=r"did not answer within 0\.3 s"):
            await collect(backend, ask())
        assert len(slow.chat_requests) == 1


async def test_stream_abandoned_early(server: FakeOpenAIServer, resources: Resources) -> None:
    backend = make(resources, server.url)
    chunks = backend.stream(ask())
    first = await anext(chunks)
    assert first.text == "Hello"
    await chunks.aclose()  # type: ignore[attr-defined]
    assert (await backend.complete(ask())).text.startswith("Hello")


async def test_stream_5xx_always(server: FakeOpenAIServer, resources: Resources) -> None:
    for _ in range(3):
        server.push(status=503, body="overloaded")
    with pytest.raises(BackendError, match="answered HTTP 503 after 3 attempts: overloaded"):
        await collect(make(resources, server.url), ask())
    assert len(server.chat_requests) == 3


async def test_stream_with_crlf_and_cr_line_ends(server: FakeOpenAIServer, resources: Resources) -> None:
    events = [
        'data: {"choices":[{"index":0,"delta":{"content":"café "}}]}',
        "",
        'data: {"choices":[{"index":0,"delta":{"content":"au lait"},"finish_reason":"stop"}]}',
        "",
        "data: [DONE]",
        "",
    ]
    server.push(body="\r\n".join(events), headers={"Content-Type": "text/event-stream"})
    server.push(body="\r".join(events), headers={"Content-Type": "text/event-stream"})
    backend = make(resources, server.url)
    for _ in range(2):
        chunks = await collect(backend, ask())
        assert "".join(c.text for c in chunks) == "café au lait"
        assert chunks[-1].finish_reason == "stop"


async def test_waiting_for_a_free_connection_is_bounded(resources: Resources) -> None:
    with FakeOpenAIServer(delay=3) as slow:
        patient = make(resources, slow.url, options={"timeout": 1})
        hasty = make(resources, slow.url, options={"timeout": 0.3})
        patient._upstream().slots = Slots(1)  # a pool of one connection, for both
        first = asyncio.create_task(patient.complete(ask()))
        while not slow.chat_requests:
            await asyncio.sleep(0.01)
        with pytest.raises(BackendTimeoutError, match=r"no free connection to .* within 0\.3 s"):
            await hasty.complete(ask())
        with pytest.raises(BackendTimeoutError, match="did not answer"):
            await first
        assert len(slow.chat_requests) == 1


def test_sse_parser() -> None:
    parser = SSEParser()
    lines = ["data: [DONE]", 'data:{"a":1}', ":c", "id: 3", "data: x", "data: y", "", "data: tail"]
    out = [payload for line in lines for payload in parser.feed(line)]
    assert out == ["[DONE]", '{"a":1}', "x\ny"]
    assert parser.flush() == ["tail"]


# -- failures ---------------------------------------------------------------------------------------


async def test_connection_refused(resources: Resources) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = make(resources, url)
    with pytest.raises(BackendError) as info:
        await backend.complete(ask())
    err = info.value
    assert err.message == (f"could not reach {url}/v1/chat/completions (connection refused after 3 attempts)")
    assert err.hint == "Is the server running? Check models.m.url."
    assert err.url == f"{url}/v1/chat/completions"
    assert "Traceback" not in str(err) and "\n" not in err.message


async def test_connection_refused_streaming_and_no_retries(resources: Resources) -> None:
    backend = make(resources, f"http://127.0.0.1:{free_port()}", options={"retries": 0})
    with pytest.raises(BackendError, match=r"connection refused after 1 attempt\)"):
        await collect(backend, ask())


async def test_500_twice_then_success(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(status=500, body="boom")
    server.push(status=502)
    reply = await make(resources, server.url).complete(ask())
    assert reply.text.startswith("Hello")
    assert len(server.chat_requests) == 3


async def test_500_always(server: FakeOpenAIServer, resources: Resources) -> None:
    for _ in range(3):
        server.push(status=500, body="boom: the GPU caught fire " + "x" * 400)
    with pytest.raises(BackendError) as info:
        await make(resources, server.url).complete(ask())
    err = info.value
    assert err.status == 500
    assert err.message.startswith(
        f"{server.url}/v1/chat/completions answered HTTP 500 after 3 attempts: boom"
    )
    assert len(err.message.split(": ", 1)[1]) <= 200
    assert len(server.chat_requests) == 3


async def test_other_4xx_not_retried(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(status=400, body='{"error": {"message": "max_tokens is too large"}}')
    with pytest.raises(BackendError, match="answered HTTP 400: max_tokens is too large") as info:
        await make(resources, server.url).complete(ask())
    assert info.value.status == 400 and "parameters" in (info.value.hint or "")
    assert len(server.chat_requests) == 1


async def test_unknown_path_is_404(server: FakeOpenAIServer, resources: Resources) -> None:
    backend = make(resources, server.url + "/nothing/here/chat/completions")
    with pytest.raises(BackendError, match="answered HTTP 404") as info:
        await backend.complete(ask())
    assert "models.m.url" in (info.value.hint or "")


@pytest.mark.parametrize(
    "body",
    ["not json", '{"object": "list", "data": []}', '{"choices": []}', '{"choices":[{"message":{}}]}'],
)
async def test_not_a_chat_completion(server: FakeOpenAIServer, resources: Resources, body: str) -> None:
    server.push(body=body)
    with pytest.raises(BackendError) as info:
        await make(resources, server.url).complete(ask())
    assert info.value.message == (
        f"{server.url}/v1/chat/completions answered something that is not a chat completion: {body}"
    )


async def test_429_retry_after_then_success(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    reply = await make(resources, server.url).complete(ask())
    assert time.monotonic() - started >= 0.95
    assert reply.text.startswith("Hello")
    assert len(server.chat_requests) == 2


async def test_429_retry_after_too_long(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(status=429, headers={"Retry-After": "120"})
    backend = make(resources, server.url, options={"max-retry-wait": 5})
    with pytest.raises(BackendError, match=r"Retry-After: 120\), longer than max-retry-wait 5 s") as info:
        await backend.complete(ask())
    assert info.value.status == 429
    assert len(server.chat_requests) == 1


async def test_retries_stop_at_the_retry_deadline(server: FakeOpenAIServer, resources: Resources) -> None:
    for _ in range(2):
        server.push(status=503, body="busy", headers={"Retry-After": "5"})
    backend = make(resources, server.url, options={"retries": 5, "retry-deadline": 2})
    with pytest.raises(BackendError) as info:  # the asked wait would end past the deadline: no retry
        await backend.complete(ask())
    assert info.value.message == f"{server.url}/v1/chat/completions answered HTTP 503: busy"
    assert len(server.chat_requests) == 1


async def test_slow_reply_times_out_once(resources: Resources) -> None:
    with FakeOpenAIServer(delay=5) as slow:
        backend = make(resources, slow.url, options={"timeout": 0.3})
        started = time.monotonic()
        with pytest.raises(BackendError) as info:
            await backend.complete(ask())
        assert time.monotonic() - started < 2
        assert info.value.message == f"{slow.url}/v1/chat/completions did not answer within 0.3 s"
        assert isinstance(info.value, BackendTimeoutError)
        assert "models.m.timeout" in (info.value.hint or "")
        assert len(slow.chat_requests) == 1
        stop_started = time.monotonic()
    assert time.monotonic() - stop_started < 2  # stop() does not wait for the slow handler


async def test_401_key_hint(server: FakeOpenAIServer, resources: Resources) -> None:
    server.push(status=401, body='{"error": {"message": "Incorrect API key provided"}}')
    with pytest.raises(BackendError, match=r"rejected the API key \(HTTP 401\)") as info:
        await make(resources, server.url, api_key=CANARY).complete(ask())
    assert info.value.hint == "Check models.m.api-key."
    assert info.value.status == 401


async def test_api_key_never_in_errors(server: FakeOpenAIServer, resources: Resources) -> None:
    echo = f'{{"error": {{"message": "bad key {CANARY}"}}}}'
    scripts: list[dict[str, Any]] = [
        {"status": 401, "body": echo},
        {"status": 400, "body": f"bad request from Bearer {CANARY}"},
        {"status": 200, "body": f"garbage {CANARY}"},
        {
            "status": 200,
            "body": f'data: {{"error": "{CANARY}"}}\n\n',
            "headers": {"Content-Type": "text/event-stream"},
        },
    ]
    texts = []
    for script in scripts:
        server.push(**script)
        backend = make(resources, server.url, api_key=CANARY, options={"retries": 0})
        with pytest.raises(BackendError) as info:
            await collect(backend, ask())
        err = info.value
        texts.append(f"{err} {err.message} {err.hint} {err.url} {err!r}")
    backend = make(resources, f"http://127.0.0.1:{free_port()}", api_key=CANARY, options={"retries": 0})
    with pytest.raises(BackendError) as info:
        await backend.complete(ask())
    texts.append(str(info.value))
    assert all(CANARY not in text for text in texts)
    assert "***" in texts[0]


async def test_a_key_echoed_across_the_excerpt_cut_leaves_no_prefix(
    server: FakeOpenAIServer, resources: Resources
) -> None:
    # without a pipeline around it: the backend's own secrets are masked before the excerpt is cut
    server.push(status=500, body="x" * 190 + CANARY)
    server.push(status=500, body=json.dumps({"echo": "y" * 300 + CANARY + "-json"}))
    backend = make(resources, server.url, api_key=CANARY, options={"retries": 0})
    for _ in range(2):
        with pytest.raises(BackendError) as info:
            await backend.complete(ask())
        assert CANARY[:6] not in info.value.message and "sk-can" not in info.value.message
    assert info.value.message.endswith("…")


def test_runner_defaults(resources: Resources) -> None:
    vllm = make(resources, None, options={"runner": "vllm"})
    llama = make(resources, None, options={"runner": "llama-cpp"})
    assert vllm.location == "http://localhost:8000/v1/chat/completions"
    assert llama.location == "http://localhost:8080/v1/chat/completions"


def test_missing_url(resources: Resources) -> None:
    with pytest.raises(BackendError, match=r"models\.m\.url is missing"):
        make(resources, None, options={"runner": "external"})


def test_bad_options(resources: Resources) -> None:
    with pytest.raises(BackendError, match=r"models\.m\.timeout: Input should be a valid number"):
        make(resources, "http://h", options={"timeout": "soon"})
    with pytest.raises(BackendError, match=r"models\.m\.retries: Input should be a valid integer"):
        make(resources, "http://h", options={"retries": 1.5})
    with pytest.raises(BackendError, match=r"models\.m\.headers: Input should be a valid dictionary"):
        make(resources, "http://h", options={"headers": ["X-A: b"]})
    with pytest.raises(BackendError, match="is not an http"):
        make(resources, "ftp://h/v1")
    with pytest.raises(BackendError, match=r"'ftp://user:\*\*\*@h/v1' is not an http") as shown:
        make(resources, "ftp://user:pw-secret@h/v1")
    assert "pw-secret" not in str(shown.value)  # a password in the URL is masked
    with pytest.raises(BackendError, match=r"models\.m\.api-key contains characters") as info:
        make(resources, "http://h", api_key="sk-clé-secrète")
    assert "secrète" not in str(info.value)
    with pytest.raises(BackendError, match=r"models\.m\.headers\.X-A: cannot be sent") as info:
        make(resources, "http://h", options={"headers": {"X-A": "a\r\nInjected: yes"}})
    assert "Injected" not in str(info.value)


async def test_api_key_whitespace_is_trimmed(server: FakeOpenAIServer, resources: Resources) -> None:
    await make(resources, server.url, api_key=f"  {CANARY}\n").complete(ask())
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {CANARY}"


# -- plugin wiring ----------------------------------------------------------------------------------


def test_discovered_through_entry_point() -> None:
    host = PluginHost(environ={})
    entry = host.registries.backends.entries["openai-api"]
    assert entry.plugin == "llmnet-openai"
    assert entry.value is OpenAIBackend


def test_import_does_not_load_the_http_client() -> None:
    code = "import sys, llmnet_openai; print('aiohttp' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# -- the fake server itself -------------------------------------------------------------------------


def test_fake_server_sync_usage() -> None:
    with FakeOpenAIServer(reply=lambda req: req["messages"][-1]["content"].upper(), name="echo") as srv:
        with httpx.Client(base_url=srv.url) as client:
            models = client.get("/v1/models").json()
            assert models["data"][0]["id"] == "echo"
            answer = client.post("/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
            body = answer.json()
            assert body["object"] == "chat.completion"
            assert body["model"] == "echo"
            assert body["choices"][0]["message"] == {"role": "assistant", "content": "HI"}
            assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            missing = client.get("/v2/other")
            assert missing.status_code == 404 and "error" in missing.json()
            assert client.post("/v1/chat/completions", content=b"nope").status_code == 400
        assert [r.method for r in srv.requests] == ["GET", "POST", "GET", "POST"]
        assert len(srv.chat_requests) == 2
        assert srv.requests[1].headers["content-type"] == "application/json"


def test_fake_server_stream_format() -> None:
    with FakeOpenAIServer(reply="a b") as srv, httpx.Client() as client:
        request = {"model": "x", "stream": True, "messages": [], "stream_options": {"include_usage": True}}
        with client.stream("POST", srv.url + "/v1/chat/completions", json=request) as response:
            assert response.headers["content-type"] == "text/event-stream"
            lines = [line for line in response.iter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        events = [json.loads(line[6:]) for line in lines[:-1]]
        assert all(e["object"] == "chat.completion.chunk" and e["model"] == "x" for e in events)
        assert [e["choices"][0]["delta"].get("content") for e in events[1:3]] == ["a", " b"]
        assert events[-2]["choices"][0]["finish_reason"] == "stop"
        assert events[-1]["usage"]["completion_tokens"] == 2


def test_fake_server_stop_with_idle_and_slow_connections() -> None:
    srv = FakeOpenAIServer(delay=30).start()
    idle = socket.create_connection(("127.0.0.1", srv.port))
    slow = socket.create_connection(("127.0.0.1", srv.port))
    slow.sendall(
        b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"messages": []}'
    )
    deadline = time.monotonic() + 5
    while not srv.chat_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2
    idle.close()
    slow.close()
    srv.stop()  # idempotent


@pytest.mark.parametrize(
    ("url", "options", "api_key"),
    [
        ("file:///etc/passwd", {}, None),
        ("ftp://x/v1", {}, None),
        ("http://", {}, None),
        ("http://[::1", {}, None),
        ("http://127.0.0.1:99999", {}, None),
        (None, {"ulr": "http://h"}, None),
        ("http://h", {}, "sk-1\nX-Injected: yes"),
    ],
)
def test_check_refuses_what_the_constructor_refuses_in_the_same_words(
    resources: Resources, url: str | None, options: dict[str, Any], api_key: str | None
) -> None:
    spec = ModelSpec(name="m", backend="openai-api", url=url, api_key=api_key, options=options)
    (problem,) = OpenAIBackend.check(spec)
    with pytest.raises(BackendError) as info:
        make(resources, url, options=options, api_key=api_key)
    assert info.value.message == f"{problem.path} {problem.message}" and info.value.hint == problem.hint
    if "ulr" in options:
        assert problem.path == "models.m.url" and problem.hint == 'the entry has "ulr": did you mean "url"?'


def test_check_accepts_a_usable_entry() -> None:
    assert OpenAIBackend.check(ModelSpec(name="m", backend="openai-api", url="localhost:8000")) == []
    assert OpenAIBackend.check(ModelSpec(name="m", backend="openai-api", options={"runner": "vllm"})) == []
