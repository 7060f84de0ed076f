"""`llmnet run` (a real process) against a model whose streamed answer ends before it is whole: exit 1
with a short error naming the node and the model's URL, never a partial answer passed off as whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LLMNET = str(Path(sys.executable).parent / "llmnet")
#: what the error says for each way `FakeOpenAIServer` cuts a stream (a reset may also show as a break)
CUT = "ended before the server said it was complete"
EMPTY = "with no answer in it (no choices)"


def chatbot(url: str) -> dict:
    return {
        "models": {"bot": {"type": "external", "url": url, "api-key": None, "retries": 0}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "bot", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("truncated", (CUT,)),
        ("reset", (CUT, "broke in the middle of the answer")),
        ("only-done", (EMPTY,)),
        ("empty-choices", (EMPTY,)),
    ],
)
def test_a_cut_stream_fails_the_run(fake_server, write_composition, fault: str, expected: tuple[str, ...]):
    server = fake_server("partial answer here")
    server.push(stream_fault=fault)
    path = write_composition(chatbot(server.url))
    done = subprocess.run(
        [LLMNET, "run", str(path), "hi"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, done.stderr  # the error, and a hint
    assert lines[0].startswith('error: node "chat": ')
    assert f"{server.url}/v1/chat/completions" in lines[0]
    assert any(words in lines[0] for words in expected), lines[0]
    assert len(server.chat_requests) == 1
