"""A model that streams `key=` and then the API key three characters at a time, behind a real `llmnet serve`:
the key is masked in the server-sent events, split across pieces as it is, and in the server's log, through
raw HTTP and through the official `openai` client."""

from __future__ import annotations

import json
import os
import secrets

import httpx
import openai
import pytest

CANARY = f"sk-canary-{secrets.token_hex(12)}"


def in_threes(text: str) -> list[str]:
    return [text[i : i + 3] for i in range(0, len(text), 3)]


def leaks(text: str, window: int = 8) -> list[str]:
    """Every run of `window` characters of the canary found in `text`."""
    return [CANARY[i : i + window] for i in range(len(CANARY) - window + 1) if CANARY[i : i + window] in text]


@pytest.fixture(scope="module")
def serve(fake_model, start_serve, module_dir):
    # spaced out, so that serve relays each piece as it comes rather than a batch of them
    model = fake_model(f"the key=`{CANARY}` as asked", pieces=in_threes, chunk_delay=0.01)
    data = {
        "models": {"m": {"type": "external", "url": model.url, "api-key": "$CANARY_KEY"}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "m", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path = module_dir / "canary.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return start_serve(path, env={**os.environ, "CANARY_KEY": CANARY})


def test_the_sse_stream_masks_a_key_split_across_pieces(serve):
    body = {"model": "m", "messages": [{"role": "user", "content": "key?"}], "stream": True}
    reply = httpx.post(f"{serve.url}/v1/chat/completions", json=body, timeout=20)
    assert reply.status_code == 200
    assert not leaks(reply.text) and not leaks(serve.output)
    events = [json.loads(line[6:]) for line in reply.text.splitlines() if line.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "the key=`***` as asked"
    assert reply.text.rstrip().endswith("data: [DONE]")


def test_the_openai_client_sees_the_key_masked(serve):
    client = openai.OpenAI(base_url=f"{serve.url}/v1", api_key="unused", max_retries=0, timeout=20)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "key?"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert "".join(pieces) == "the key=`***` as asked"
    plain = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "key?"}])
    assert plain.choices[0].message.content == "the key=`***` as asked"
