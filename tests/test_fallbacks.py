"""A node's `fallback` models against real (fake, fault-injecting) servers on 127.0.0.1: which failures
fall back and which do not, streams that fall back only before their first piece, routers, the trace,
`validate`, and `llmnet run` (a real process) when an answer breaks off after it began."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import FakeOllamaServer

from llmnet_core import BackendError, BackendTimeoutError, Pipeline
from llmnet_core.composition import validate_composition

LLMNET = str(Path(sys.executable).parent / "llmnet")


def with_fallbacks(primary: str, *backups: str, **node: Any) -> dict[str, Any]:
    """Node "chat" answers with model "primary" (no retries, a short timeout), then "backup-1", ..."""
    models: dict[str, Any] = {"primary": {"type": "external", "url": primary, "retries": 0, "timeout": 2}}
    for index, url in enumerate(backups, 1):
        models[f"backup-{index}"] = {"type": "external", "url": url, "retries": 0}
    fallback = [f"backup-{index}" for index in range(1, len(backups) + 1)]
    return {
        "models": models,
        "architecture": [
            {
                "name": "chat",
                "layer": 0,
                "model": "primary",
                "fallback": fallback,
                "output-to": ["output"],
                **node,
            },
            {"name": "output", "adapter": "output"},
        ],
    }


async def ask(data: dict[str, Any], prompt: str = "hello", **kwargs: Any) -> Any:
    async with Pipeline.from_dict(data) as pipe:
        return await pipe.run(prompt, **kwargs)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("refuse", "could not reach"),
        ("500", "HTTP 500"),
        ("429", "HTTP 429"),
        ("slow", "did not answer within 2 s"),
        ("garbage", "not a chat completion"),
    ],
)
async def test_a_failing_model_falls_back(fake_server, fault: str, said: str):
    faulty, backup = fake_server("from the primary", slow_delay=30), fake_server("from the backup")
    result = await ask(with_fallbacks(faulty.fault_url(fault), backup.url))
    assert result.output == "from the backup"
    hop = result.trace.hops[0]
    assert hop.answered_by == "backup-1" and hop.model == "backup-1"
    assert [failed["model"] for failed in hop.fallbacks] == ["primary"]
    assert said in hop.fallbacks[0]["error"]
    assert len(backup.chat_requests) == 1
    assert result.trace.to_dict()["hops"][0]["answered_by"] == "backup-1"


async def test_the_trace_times_each_model_call_and_a_failed_hop(fake_server):
    """What serve's metrics read from the trace: every model call's time (the failed one too), and the
    time of a hop that failed."""
    faulty, backup = fake_server("from the primary"), fake_server("from the backup")
    result = await ask(with_fallbacks(faulty.fault_url("500"), backup.url))
    hop = result.trace.hops[0]
    assert len(hop.model_ms) == 2 and all(ms > 0 for ms in hop.model_ms)
    assert hop.ms >= sum(hop.model_ms)
    assert result.trace.to_dict()["hops"][0]["model_ms"] == [round(ms, 3) for ms in hop.model_ms]
    with pytest.raises(BackendError) as info:
        await ask(with_fallbacks(faulty.fault_url("500")))
    [failed, *_] = info.value.trace.hops
    assert len(failed.model_ms) == 1 and failed.ms >= failed.model_ms[0] > 0


async def test_the_node_s_own_model_answers_when_it_can(fake_server):
    primary, backup = fake_server("from the primary"), fake_server("from the backup")
    result = await ask(with_fallbacks(primary.url, backup.url))
    assert result.output == "from the primary"
    assert result.trace.hops[0].answered_by == "primary" and result.trace.hops[0].fallbacks == []
    assert backup.chat_requests == []


async def test_fallbacks_are_tried_in_order(fake_server):
    down, crashing, backup = fake_server(), fake_server(), fake_server("third time lucky")
    data = with_fallbacks(down.fault_url("refuse"), crashing.fault_url("500"), backup.url)
    result = await ask(data)
    assert result.output == "third time lucky"
    assert [f["model"] for f in result.trace.hops[0].fallbacks] == ["primary", "backup-1"]
    rendered = result.trace.render()
    assert "↳ model primary failed: could not reach" in rendered
    assert "↳ model backup-1 failed: " in rendered and "HTTP 500" in rendered
    assert "↳ answered by fallback model backup-2" in rendered


async def test_when_every_model_fails_the_error_names_each_one(fake_server):
    server = fake_server()
    data = with_fallbacks(server.fault_url("500"), server.fault_url("refuse"), server.fault_url("slow"))
    data["models"]["backup-2"]["timeout"] = 0.5
    with pytest.raises(BackendTimeoutError) as info:  # the last model's failure decides the kind
        await ask(data)
    message = info.value.message
    assert message.startswith('node "chat": models tried in turn: primary, backup-1, backup-2; the last')
    assert "did not answer within 0.5 s" in message
    assert [f["model"] for f in info.value.trace.hops[0].fallbacks] == ["primary", "backup-1"]


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_refused_request_does_not_fall_back(fake_server, status: int):
    primary, backup = fake_server(), fake_server("from the backup")
    primary.push(status=status)
    with pytest.raises(BackendError) as info:
        await ask(with_fallbacks(primary.url, backup.url))
    assert f"HTTP {status}" in info.value.message
    assert "Fallback models not tried (backup-1)" in (info.value.hint or "")
    assert backup.chat_requests == []


async def test_a_stream_that_fails_before_its_first_piece_falls_back_unseen(fake_server):
    primary, backup = fake_server("never seen"), fake_server("the backup streams this answer")
    primary.push(status=503)
    primary.push(stream_fault="only-done")  # a 200 whose stream holds no text at all
    pieces: list[str] = []
    for _ in range(2):
        pieces.clear()
        result = await ask(with_fallbacks(primary.url, backup.url), on_token=pieces.append)
        assert "".join(pieces) == result.output == "the backup streams this answer"
        assert len(pieces) > 1  # streamed from the backup, not buffered
        assert result.trace.hops[0].answered_by == "backup-1"
    assert [r.json["stream"] for r in backup.chat_requests] == [True, True]


async def test_a_stream_that_fails_after_its_first_piece_is_an_error_not_a_spliced_answer(fake_server):
    primary, backup = fake_server("partial answer here"), fake_server("from the backup")
    primary.push(stream_fault="truncated")
    pieces: list[str] = []
    with pytest.raises(BackendError) as info:
        await ask(with_fallbacks(primary.url, backup.url), on_token=pieces.append)
    assert "".join(pieces) == "partial answer here"
    assert "ended before the server said it was complete" in info.value.message
    assert "Fallback models not tried (backup-1): the answer had begun" in (info.value.hint or "")
    assert backup.chat_requests == []


async def test_an_ollama_model_falls_back_to_another_server_and_back(fake_server):
    hosted = fake_server("from the hosted model")
    with FakeOllamaServer(lambda request: "from the local model") as local:
        data = with_fallbacks(hosted.fault_url("500"))
        data["models"]["local"] = {"runner": "ollama", "url": local.url, "model": "llama3.2", "retries": 0}
        data["architecture"][0]["fallback"] = ["local"]
        pieces: list[str] = []
        result = await ask(data, on_token=pieces.append)
        assert result.output == "".join(pieces) == "from the local model"
        assert result.trace.hops[0].answered_by == "local" and result.trace.hops[0].backend == "ollama"
        # the other way round: the local model is the node's own, and fails midway through its answer
        local.push(error="out of memory")
        flipped = with_fallbacks("http://127.0.0.1:1", hosted.url)
        flipped["models"]["primary"] = data["models"]["local"]
        asked_before = len(hosted.chat_requests)
        pieces.clear()
        with pytest.raises(BackendError) as info:
            await ask(flipped, on_token=pieces.append)
        assert pieces == ["from"] and "out of memory" in info.value.message
        assert len(hosted.chat_requests) == asked_before  # its first word went out: nothing falls back


def test_llmnet_run_prints_the_partial_answer_and_one_error(fake_server, write_composition):
    primary, backup = fake_server("partial answer here"), fake_server("from the backup")
    primary.push(stream_fault="truncated")
    path = write_composition(with_fallbacks(primary.url, backup.url))
    done = subprocess.run([LLMNET, "run", str(path), "hi"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout == "partial answer here"  # what was streamed, without a line end: not whole
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith('error: node "chat": the answer from ')
    assert "Fallback models not tried (backup-1): the answer had begun" in lines[1]
    assert backup.chat_requests == []


async def test_a_fallback_model_gets_its_own_wire_name_and_parameters(fake_server):
    primary, backup = fake_server(), fake_server("ok")
    data = with_fallbacks(
        primary.fault_url("500"), backup.url, **{"extra-options": {"model_override": "big"}}
    )
    data["models"]["backup-1"].update(model="small-8b", parameters={"temperature": 0.2})
    await ask(data, parameters={"max_tokens": 7})
    sent = backup.chat_requests[0].json
    assert sent["model"] == "small-8b"  # model_override names the node's own model only
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 7


async def test_a_router_s_model_falls_back_too(fake_server):
    down, backup = fake_server(), fake_server("sales")
    sales, support = fake_server("sales answer"), fake_server("support answer")
    data = {
        "models": {
            "router": {"type": "external", "url": down.fault_url("refuse"), "retries": 0},
            "router-backup": {"type": "external", "url": backup.url},
            "sales": {"type": "external", "url": sales.url},
            "support": {"type": "external", "url": support.url},
        },
        "architecture": [
            {"name": "entry", "layer": 0, "model": "router", "fallback": ["router-backup"], "output-to": [1]},
            {"name": "sales", "layer": 1, "model": "sales", "use-case": "prices", "output-to": ["output"]},
            {"name": "support", "layer": 1, "model": "support", "use-case": "help", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    result = await ask(data, "how much?")
    assert result.output == "sales answer"
    assert result.trace.hops[0].answered_by == "router-backup"
    assert len(backup.chat_requests) == 1


def problems_of(data: dict[str, Any], host: Any) -> list[tuple[str, str, str | None, str]]:
    _, problems = validate_composition(data, registries=host.registries)
    return [(p.path, p.message, p.hint, p.severity) for p in problems]


def test_validate_names_an_unknown_fallback_model(host):
    data = with_fallbacks("http://127.0.0.1:1", "http://127.0.0.1:2")
    data["architecture"][0]["fallback"] = ["backup-1", "backup-2", "primary"]
    found = problems_of(data, host)
    assert found == [
        (
            "architecture[0].fallback[1]",
            'unknown model "backup-2" (models defined: backup-1, primary)',
            'did you mean "backup-1"?',
            "error",
        ),
        (
            "architecture[0].fallback[2]",
            'model "primary" is tried before already; it is tried once',
            None,
            "warning",
        ),
    ]


def test_validate_refuses_a_fallback_without_a_model_and_ignores_one_on_an_output(host):
    data = with_fallbacks("http://127.0.0.1:1", "http://127.0.0.1:2")
    data["architecture"].insert(1, {"name": "idle", "layer": 1, "fallback": "backup-1"})
    data["architecture"][2]["fallback"] = ["backup-1"]
    found = problems_of(data, host)
    assert (
        "architecture[1].fallback",
        "the node has no model to fall back from",
        'add "model", the one tried first',
        "error",
    ) in found
    assert (
        "architecture[2].fallback",
        "this node calls no model: its fallback is ignored",
        None,
        "warning",
    ) in found


def test_llmnet_validate_exits_2_naming_the_path(write_composition):
    data = with_fallbacks("http://127.0.0.1:1", "http://127.0.0.1:2")
    data["architecture"][0]["fallback"] = ["backup-one"]
    path = write_composition(data)
    done = subprocess.run([LLMNET, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert 'architecture[0].fallback[0]: unknown model "backup-one"' in out
    assert 'did you mean "backup-1"?' in out


async def test_trace_json_of_a_run_says_which_model_answered(fake_server, write_composition):
    primary, backup = fake_server(), fake_server("from the backup")
    path = write_composition(with_fallbacks(primary.fault_url("500"), backup.url))
    done = subprocess.run(
        [LLMNET, "run", str(path), "hi", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    hop = json.loads(done.stdout)["trace"]["hops"][0]
    assert hop["answered_by"] == "backup-1"
    assert hop["fallbacks"][0]["model"] == "primary" and "HTTP 500" in hop["fallbacks"][0]["error"]


async def test_a_model_that_failed_is_passed_over_for_the_cooldown_then_tried_again(fake_server):
    backup = fake_server("from the backup")
    primary = fake_server("from the primary")
    data = with_fallbacks(primary.url, backup.url)
    data["settings"] = {"cooldown": 0.5}
    async with Pipeline.from_dict(data) as pipe:
        primary.push(status=503)
        first = await pipe.run("one")
        assert first.output == "from the backup" and len(primary.chat_requests) == 1
        second = await pipe.run("two")  # within the cooldown: the primary is not asked
        assert second.output == "from the backup" and len(primary.chat_requests) == 1
        [passed] = second.trace.hops[0].fallbacks
        assert passed["model"] == "primary"
        assert re.fullmatch(
            r"passed over: it failed [\d.]+ s ago \(settings\.cooldown 0\.5 s\)", passed["error"]
        )
        await asyncio.sleep(0.6)
        third = await pipe.run("three")  # the cooldown is over: the primary answers again
        assert third.output == "from the primary" and third.trace.hops[0].fallbacks == []
        assert len(primary.chat_requests) == 2


async def test_a_model_passed_over_is_still_tried_when_its_fallbacks_fail(fake_server):
    primary = fake_server("from the primary")
    backup = fake_server("from the backup")
    data = with_fallbacks(primary.url, backup.url)
    async with Pipeline.from_dict(data) as pipe:  # the default cooldown: 10 s
        primary.push(status=503)
        assert (await pipe.run("one")).output == "from the backup"  # the primary is passed over now
        backup.push(status=500)
        result = await pipe.run("two")  # the backup fails, so the primary is asked after all
        assert result.output == "from the primary" and result.trace.hops[0].answered_by == "primary"
        assert [f["model"] for f in result.trace.hops[0].fallbacks] == ["primary", "backup-1"]


async def test_a_cooldown_of_zero_tries_the_node_s_own_model_first_every_time(fake_server):
    primary = fake_server("from the primary")
    data = with_fallbacks(primary.url, fake_server("from the backup").url)
    data["settings"] = {"cooldown": 0}
    async with Pipeline.from_dict(data) as pipe:
        primary.push(status=503)
        assert (await pipe.run("one")).output == "from the backup"
        assert (await pipe.run("two")).output == "from the primary"
