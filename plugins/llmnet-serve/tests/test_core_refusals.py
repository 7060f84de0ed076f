"""A request that serve's own checks let through and the core then refuses is still the client's mistake:
HTTP 400 `invalid_request_error`, whichever layer found it. The app runs on a real uvicorn server in this
process, so that one of serve's checks can be switched off."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import llmnet_serve.wire
import pytest
from llmnet_serve.app import create_app
from llmnet_serve.settings import make_settings

from llmnet_core import Pipeline


def one_node(url: str) -> dict[str, Any]:
    return {
        "models": {"m": {"type": "external", "url": url}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.fixture
async def served(host, fake_server) -> AsyncIterator[str]:
    """The app for a one-node pipeline on uvicorn at 127.0.0.1; yields its `/v1` address."""
    import uvicorn

    app = create_app(
        make_settings(composition="inline.json"), Pipeline.from_dict(one_node(fake_server().url))
    )
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, http="httptools"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        running = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            assert not running.done(), "the server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        server.should_exit = True
        await running


async def test_a_parameter_the_core_refuses_is_a_400(served, monkeypatch):
    import openai

    monkeypatch.setattr(llmnet_serve.wire, "parameter_problem", lambda name, value: None)
    client = openai.AsyncOpenAI(base_url=served, api_key="x", max_retries=0, timeout=20)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], top_p=0)
    await client.close()
    error = refused.value.body
    assert refused.value.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("parameters.top_p must be a number above 0")
