"""Busy, slow and vanishing peers: 429 at --max-concurrent, 504 on a backend or aborting hook's timeout,
cancellation when the client disconnects, errors in the middle of a stream, and a graceful stop."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
import pytest

CHAT = "/v1/chat/completions"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": text}], **extra}


#: a node for gold customers in the EU: TIER comes from the client, REGION from `--var`
GOLD = '$TIER == "gold" and $REGION == "eu"'


def picked(word: str) -> str:
    return f'$INPUT == "{word}"'


@pytest.fixture(scope="module")
def limited(fake_model, slow_peer, start_serve, module_dir) -> Any:
    """--max-concurrent 1, in front of a composition whose entry picks a node by the request's text:
    "slow" (answers after 0.6 s), "stuck" (answers after 10 s; its model times out after 0.3 s), "stream"
    and "break" (the slow peer), "hooked" (an aborting rest pre-hook whose peer, the stuck server, outlasts
    its 0.3 s timeout), "gold" for TIER=gold (a client variable) with REGION=eu (--var), anything else
    "quick"."""
    slow = fake_model("slow answer", name="slow", delay=0.6)
    stuck = fake_model("never in time", name="stuck", delay=10.0)
    quick = fake_model("quick answer", name="quick")
    words = ("slow", "stuck", "stream", "break", "hooked")
    gate = {"function": "gate", "mode": "transform", "on_failure": "abort"}
    composition = {
        "functions": {"gate": {"type": "rest", "url": f"{stuck.url}/v1/chat/completions", "timeout": 0.3}},
        "models": {
            "slow": {"type": "external", "url": slow.url},
            "stuck": {"type": "external", "url": stuck.url, "timeout": 0.3},
            "peer": {"type": "external", "url": slow_peer.url, "retries": 0},
            "quick": {"type": "external", "url": quick.url},
        },
        "architecture": [
            {"name": "entry", "layer": 0, "output-to": [1]},
            {"name": "slow", "layer": 1, "model": "slow", "if": picked("slow"), "output-to": ["output"]},
            {"name": "stuck", "layer": 1, "model": "stuck", "if": picked("stuck"), "output-to": ["output"]},
            {
                "name": "peer",
                "layer": 1,
                "model": "peer",
                "if": f"{picked('stream')} or {picked('break')}",
                "output-to": ["output"],
            },
            {
                "name": "hooked",
                "layer": 1,
                "model": "quick",
                "if": picked("hooked"),
                "hooks": {"pre": [gate]},
                "output-to": ["output"],
            },
            {
                "name": "gold",
                "layer": 1,
                "model": "quick",
                "if": GOLD,
                "extra-options": {"model_override": "gold-model"},
                "output-to": ["output"],
            },
            {
                "name": "quick",
                "layer": 1,
                "model": "quick",
                "if": " and ".join(f'$INPUT != "{w}"' for w in words) + f" and not ({GOLD})",
                "output-to": ["output"],
            },
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "limited.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    return start_serve(path, "--max-concurrent", "1", "--var", "REGION=eu", "--allow-client-variables").url


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=20) as http:
        yield http


def idle(data: dict[str, Any]) -> bool:
    return data["requests"]["in_flight"] == 0


async def test_429_when_max_concurrent_requests_are_in_flight(client, limited, server_status):
    first = asyncio.create_task(client.post(f"{limited}{CHAT}", json=chat("slow")))
    busy = await server_status(client, limited, lambda d: d["requests"]["in_flight"] == 1)
    assert busy["requests"]["in_flight"] == 1
    rejected = await client.post(f"{limited}{CHAT}", json=chat("hello"))
    assert rejected.status_code == 429
    error = rejected.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert "--max-concurrent 1" in error["message"]
    answered = await first
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"] == "slow answer"
    after = await client.post(f"{limited}{CHAT}", json=chat("hello"))
    assert after.status_code == 200  # the slot is free again


async def test_backend_timeout_is_504(client, limited, server_status):
    reply = await client.post(f"{limited}{CHAT}", json=chat("stuck"))
    assert reply.status_code == 504
    error = reply.json()["error"]
    assert error["type"] == "timeout_error"
    assert error["code"] == "backend_timeout"
    assert 'node "stuck"' in error["message"] and "0.3 s" in error["message"]
    streamed = await client.post(f"{limited}{CHAT}", json=chat("stuck", stream=True))
    assert streamed.status_code == 504  # nothing was sent yet: still a real HTTP error
    assert streamed.json()["error"]["code"] == "backend_timeout"
    data = await server_status(client, limited, idle)
    assert data["nodes"]["stuck"]["errors"] >= 2


async def test_an_aborting_hook_that_times_out_is_504(client, limited, server_status):
    reply = await client.post(f"{limited}{CHAT}", json=chat("hooked"))
    assert reply.status_code == 504, reply.text
    error = reply.json()["error"]
    assert error["type"] == "timeout_error"
    assert error["code"] == "step_timeout"
    assert error["message"].startswith('node "hooked": pre-hook "gate" (rest) failed: ')
    assert "0.3 s" in error["message"]
    data = await server_status(client, limited, idle)
    assert data["requests"]["in_flight"] == 0


async def test_stream_disconnect_cancels_the_pipeline(client, limited, slow_peer, server_status):
    slow_peer.reset()
    before = await server_status(client, limited)
    async with client.stream("POST", f"{limited}{CHAT}", json=chat("stream", stream=True)) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if line.startswith("data: ") and "Hello" in line:
                break
    # leaving the block closed the connection mid-stream
    assert await asyncio.to_thread(slow_peer.dropped.wait, 10), "the backend call was not cancelled"
    after = await server_status(client, limited, idle)
    assert after["requests"]["in_flight"] == 0
    assert after["requests"]["cancelled"] == before["requests"]["cancelled"] + 1


async def test_plain_disconnect_cancels_the_pipeline(client, limited, slow_peer, server_status):
    slow_peer.reset()
    before = await server_status(client, limited)
    pending = asyncio.create_task(client.post(f"{limited}{CHAT}", json=chat("stream")))  # plain: no answer
    assert await asyncio.to_thread(slow_peer.received.wait, 10)
    pending.cancel()  # the client gives up and closes its connection
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert await asyncio.to_thread(slow_peer.dropped.wait, 10), "the backend call was not cancelled"
    after = await server_status(client, limited, idle)
    assert after["requests"]["cancelled"] == before["requests"]["cancelled"] + 1


async def test_error_after_the_stream_started_is_an_sse_error(client, limited, slow_peer):
    reply = await client.post(f"{limited}{CHAT}", json=chat("break", stream=True))
    assert reply.status_code == 200  # the first words were already sent
    events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
    assert json.loads(events[0])["choices"][0]["delta"] == {"role": "assistant", "content": "Hello"}
    error = json.loads(events[-1])["error"]
    assert error["type"] == "upstream_error"
    assert 'node "peer"' in error["message"]
    assert "[DONE]" not in events


def test_openai_client_raises_on_a_mid_stream_error(limited):
    import openai

    client = openai.OpenAI(base_url=f"{limited}/v1", api_key="x", max_retries=0, timeout=20)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "break"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


async def test_graceful_stop_finishes_requests_in_flight(
    client, limited, start_serve, module_dir, server_status
):
    path = module_dir / "limited.json"
    server = start_serve(path)
    pending = asyncio.create_task(client.post(f"{server.url}{CHAT}", json=chat("slow")))
    await server_status(client, server.url, lambda d: d["requests"]["in_flight"] == 1)
    server.process.send_signal(signal.SIGTERM)
    reply = await pending
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"] == "slow answer"
    assert await asyncio.to_thread(server.wait) == 0
    assert "llmnet serve: stopped" in server.output
    assert "Traceback" not in server.output


async def test_request_variables_from_the_client_and_from_var(client, limited):
    def path_of(reply: httpx.Response) -> list[str]:
        assert reply.status_code == 200, reply.text
        return [hop["node"] for hop in reply.json()["llmnet_trace"]["hops"]]

    traced = {"trace": True}
    plain = await client.post(f"{limited}{CHAT}", json=chat("hello", llmnet=traced))
    assert path_of(plain) == ["entry", "quick", "output"]
    gold = await client.post(
        f"{limited}{CHAT}", json=chat("hello", llmnet={**traced, "variables": {"TIER": "gold"}})
    )
    assert path_of(gold) == ["entry", "gold", "output"]
    # --var values win over the client's, and built-in variables over both
    steered = {"TIER": "gold", "REGION": "us", "INPUT": "stuck"}
    still_gold = await client.post(
        f"{limited}{CHAT}", json=chat("hello", llmnet={**traced, "variables": steered})
    )
    assert path_of(still_gold) == ["entry", "gold", "output"]
    bad = await client.post(f"{limited}{CHAT}", json=chat("hello", llmnet={"variables": {"1X": "a"}}))
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "llmnet.variables.1X"
