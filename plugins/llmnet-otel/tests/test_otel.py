"""llmnet-otel against a real OTLP/HTTP receiver: a routed two-handler pipeline with a hook, run through
the library and through `llmnet run` (a subprocess), exported, decoded and checked span by span."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmnet_otel.observer import OTelObserver
from llmnet_otel.settings import OTelConfigError, OTelSettings, from_environ

from llmnet_core import Pipeline
from llmnet_core.events import remove_observer

LLMNET = Path(sys.executable).with_name("llmnet")
CANARY = "sk-canary-otel-4c19e7d2"
MARKER = "private-text-marker-77b1"
ENV_NAMES = (
    "LLMNET_OTEL",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
)


def last_user(request: dict[str, Any]) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def composition(router_url: str, handler_url: str) -> dict[str, Any]:
    """An LLM router choosing between two handlers; `billing` has an API key (a secret, from the
    environment) and a shell pre-hook."""
    return {
        "models": {
            "router": {"type": "external", "url": router_url, "model": "tiny-router"},
            "billing": {
                "type": "external",
                "url": handler_url,
                "model": "billing-7b",
                "api-key": "$OTEL_TEST_KEY",
            },
            "tech": {"type": "external", "url": handler_url, "model": "tech-7b"},
        },
        "functions": {"stamp": {"type": "shell", "command": "true", "stdin": "none"}},
        "architecture": [
            {"name": "entry", "layer": 0, "model": "router", "output-to": [1]},
            {
                "name": "billing",
                "layer": 1,
                "model": "billing",
                "use-case": "invoices and refunds",
                "output-to": ["output"],
                "hooks": {"pre": [{"function": "stamp", "mode": "transform"}]},
            },
            {
                "name": "tech",
                "layer": 1,
                "model": "tech",
                "use-case": "bugs and crashes",
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.fixture
def models(fake_server) -> Any:
    router = fake_server(lambda r: "billing" if "invoice" in last_user(r) else "tech", name="router")
    handler = fake_server(lambda r: f"answer about {last_user(r)}", name="handler")
    return type("Models", (), {"router": router, "handler": handler})


@pytest.fixture
def otel_env(monkeypatch, otlp_receiver) -> Iterator[dict[str, str]]:
    """The environment that turns llmnet-otel on, pointed at the test's receiver, the canary key set."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    values = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.url, "OTEL_TEST_KEY": CANARY}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    yield values


@pytest.fixture
def otel(otel_env, host) -> Iterator[OTelObserver]:
    """The observer llmnet-otel registered under `otel_env` (in a fresh plugin host); the host's observers
    are removed afterwards."""
    observers = [reg.value for reg in host.registries.observers.entries.values()]
    [otel] = [o for o in observers if isinstance(o, OTelObserver)]
    yield otel
    for observer in observers:
        remove_observer(observer)
    otel.flush()
    if otel._provider is not None:
        otel._provider.shutdown()


def tree(spans: list[Any]) -> dict[str, Any]:
    """Spans by id, and a check that they form one trace."""
    assert len({s.trace_id for s in spans}) == 1, "the spans of one request belong to one trace"
    return {s.span_id: s for s in spans}


def check_span_tree(spans: list[Any], source: str) -> dict[str, Any]:
    """The spans of one request to `billing`: request > hop > route / hook / model_call, with the gen_ai
    and routing attributes; returns the spans by name."""
    by_id = tree(spans)
    by_name = {s.name: s for s in spans}
    [request] = [s for s in spans if s.name == "llmnet request"]
    assert request.parent_id == "" and request.attributes["llmnet.source"] == source
    assert request.attributes["llmnet.path"] == ["entry", "billing", "output"]
    assert request.attributes["gen_ai.usage.input_tokens"] > 0
    hops = {s.attributes["llmnet.node"]: s for s in spans if s.name.startswith("hop ")}
    assert set(hops) == {"entry", "billing"}
    assert all(h.parent_id == request.span_id for h in hops.values())
    entry, billing = hops["entry"], hops["billing"]
    assert entry.attributes["llmnet.role"] == "router" and billing.attributes["llmnet.role"] == "handler"
    assert billing.attributes["llmnet.chosen_by"].startswith("llm router")
    assert billing.attributes["llmnet.decision.strategy"] == "llm"
    assert billing.attributes["llmnet.decision.candidates"] == ["billing", "tech"]
    route = by_name["route entry"]
    assert route.parent_id == entry.span_id
    assert route.attributes["llmnet.route.chosen"] == "billing"
    assert route.attributes["llmnet.route.candidates"] == ["billing", "tech"]
    assert route.attributes["llmnet.route.strategy"] == "llm"
    router_call = by_name["chat tiny-router"]
    assert by_id[router_call.parent_id] is route  # the router asks its model while it decides
    call = by_name["chat billing-7b"]
    assert call.parent_id == billing.span_id
    assert call.kind == 3  # SPAN_KIND_CLIENT
    assert call.attributes["gen_ai.operation.name"] == "chat"
    assert call.attributes["gen_ai.request.model"] == "billing-7b"
    assert call.attributes["gen_ai.response.model"] == "billing-7b"
    assert call.attributes["gen_ai.provider.name"] == call.attributes["gen_ai.system"] == "openai"
    assert (
        call.attributes["gen_ai.usage.input_tokens"] > 0 and call.attributes["gen_ai.usage.output_tokens"] > 0
    )
    assert call.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    hook = by_name["hook stamp"]
    assert hook.parent_id == billing.span_id
    assert hook.attributes["llmnet.hook.status"] == "ok" and hook.attributes["llmnet.hook.phase"] == "pre"
    for s in spans:
        assert request.start_ns <= s.start_ns <= s.end_ns <= request.end_ns
    return by_name


async def test_library_run_exports_the_span_tree(otel, otlp_receiver, models):
    async with Pipeline.from_dict(composition(models.router.url, models.handler.url)) as pipe:
        result = await pipe.run(f"my invoice is wrong {MARKER}")
    assert result.trace.path == ["entry", "billing", "output"]
    assert models.handler.chat_requests[0].headers["authorization"] == f"Bearer {CANARY}"
    otel.flush()
    spans = otlp_receiver.wait_for(8)
    assert len(spans) == 8, [s.name for s in spans]
    by_name = check_span_tree(spans, "library")
    assert by_name["llmnet request"].resource["service.name"] == "llmnet"
    assert by_name["llmnet request"].attributes["llmnet.request_id"] == result.trace.request_id
    assert set(otlp_receiver.paths) == {"/v1/traces"}
    raw = b"".join(otlp_receiver.bodies)
    assert CANARY.encode() not in raw
    assert MARKER.encode() not in raw  # no request text without content capture
    assert b"answer about" not in raw


async def test_content_capture_records_messages_with_secrets_masked(otel, otlp_receiver, fake_server, models):
    # the model echoes its API key into the answer; the exported answer has it masked
    data = composition(models.router.url, models.handler.fault_url("echo-key"))
    otel.settings = OTelSettings(True, capture_content=True)
    async with Pipeline.from_dict(data) as pipe:
        result = await pipe.run(f"invoice {MARKER}")
    assert CANARY in result.output  # the pipeline itself hands the answer back as is
    otel.flush()
    spans = otlp_receiver.wait_for(8)
    [request] = [s for s in spans if s.name == "llmnet request"]
    inputs = json.loads(request.attributes["gen_ai.input.messages"])
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": f"invoice {MARKER}"}]}]
    output = json.loads(request.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"]
    assert "***" in output and CANARY not in output
    assert CANARY.encode() not in b"".join(otlp_receiver.bodies)


async def test_a_failed_request_is_an_error_span(otel, otlp_receiver, models):
    models.handler.push(status=400, body=json.dumps({"error": {"message": f"bad key {CANARY}"}}))
    async with Pipeline.from_dict(composition(models.router.url, models.handler.url)) as pipe:
        with pytest.raises(Exception, match="billing"):
            await pipe.run("invoice please")
    otel.flush()
    spans = otlp_receiver.wait_for(7)
    by_name = {s.name: s for s in spans}
    for name in ("llmnet request", "hop billing", "chat billing-7b"):
        assert by_name[name].status_code == 2, name  # STATUS_CODE_ERROR
        assert by_name[name].attributes["error.type"] == "BackendError"
    assert "***" in by_name["chat billing-7b"].status_message
    assert CANARY.encode() not in b"".join(otlp_receiver.bodies)


def test_llmnet_run_exports_before_it_exits(otel_env, otlp_receiver, models, tmp_path):
    path = tmp_path / "support.json"
    path.write_text(json.dumps(composition(models.router.url, models.handler.url)), encoding="utf-8")
    env = {**os.environ, "OTEL_SERVICE_NAME": "support-bot"}
    done = subprocess.run(
        [str(LLMNET), "run", str(path), f"an invoice question {MARKER}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"answer about an invoice question {MARKER}"
    # spans are exported before the process exits: nothing to wait for
    spans = otlp_receiver.wait_for(8, timeout=0)
    assert len(spans) == 8, [s.name for s in spans]
    by_name = check_span_tree(spans, "run")
    request = by_name["llmnet request"]
    assert request.resource["service.name"] == "support-bot"
    assert request.attributes["llmnet.composition"] == str(path)
    raw = b"".join(otlp_receiver.bodies)
    assert CANARY.encode() not in raw and MARKER.encode() not in raw


def test_run_without_configuration_exports_nothing(otlp_receiver, models, tmp_path):
    path = tmp_path / "support.json"
    path.write_text(json.dumps(composition(models.router.url, models.handler.url)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["OTEL_TEST_KEY"] = CANARY
    done = subprocess.run(
        [str(LLMNET), "run", str(path), "tech crash"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert otlp_receiver.wait_for(1, timeout=0.5) == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, OTelSettings(False)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, OTelSettings(True)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, OTelSettings(True)),
        ({"LLMNET_OTEL": "1"}, OTelSettings(True)),
        ({"LLMNET_OTEL": "0", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, OTelSettings(False)),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, OTelSettings(False)),
        (
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            OTelSettings(False),
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, OTelSettings(True, "console")),
        (
            {"LLMNET_OTEL": "1", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
            OTelSettings(True, capture_content=True),
        ),
    ],
)
def test_settings_from_the_environment(env, expected):
    assert from_environ(env) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"LLMNET_OTEL": "1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"LLMNET_OTEL": "1", "OTEL_TRACES_EXPORTER": "zipkin"},
    ],
)
def test_settings_it_cannot_follow_are_errors_that_say_so(env):
    with pytest.raises(OTelConfigError, match="not supported by llmnet-otel"):
        from_environ(env)


def test_llmnet_serve_exports_each_request(otel_env, otlp_receiver, models, tmp_path):
    path = tmp_path / "support.json"
    path.write_text(json.dumps(composition(models.router.url, models.handler.url)), encoding="utf-8")
    env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "100"}  # export batches every 0.1 s
    server = subprocess.Popen(
        [str(LLMNET), "serve", str(path), "--port", "0"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", banner)
        assert match, banner
        reply = httpx.post(
            f"http://127.0.0.1:{match.group(1)}/v1/chat/completions",
            json={"model": "any", "messages": [{"role": "user", "content": f"invoice {MARKER}"}]},
            headers={"x-request-id": "served-1"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        spans = otlp_receiver.wait_for(8)
    finally:
        server.terminate()
        server.wait(timeout=30)
    by_name = check_span_tree(spans, "serve")
    assert by_name["llmnet request"].attributes["llmnet.request_id"] == "served-1"
    raw = b"".join(otlp_receiver.bodies)
    assert CANARY.encode() not in raw and MARKER.encode() not in raw
