"""The garbage collector while serve runs: startup's objects frozen, the youngest generation collected
less often, the previous settings back once the server stops (the app runs on a real uvicorn server in
this process, whose collector it sets)."""

from __future__ import annotations

import asyncio
import gc
import socket

import httpx
from llmnet_serve.app import create_app
from llmnet_serve.collector import YOUNG_THRESHOLD
from llmnet_serve.settings import make_settings

from llmnet_core import Pipeline


async def test_serving_sets_the_collector_and_stopping_restores_it(host, fake_server) -> None:
    import uvicorn

    before = gc.get_threshold()
    composition = {
        "models": {"m": {"type": "external", "url": fake_server().url}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    app = create_app(make_settings(composition="inline.json"), Pipeline.from_dict(composition))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, http="httptools"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        running = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            assert not running.done(), "the server did not start"
            await asyncio.sleep(0.01)
        try:
            assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
            assert gc.get_freeze_count() > 0
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
            async with httpx.AsyncClient() as client:
                answer = await client.post(url, json={"messages": [{"role": "user", "content": "hi"}]})
            assert answer.status_code == 200
        finally:
            server.should_exit = True
            await running
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
