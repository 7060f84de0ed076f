"""Standard output that cannot take the answer is not the model's failure: the real `llmnet run` with its
stdout a pipe whose reader goes away (exit 141, quietly, as a Unix tool) or /dev/full (an output error,
exit 1), streamed, not streamed and as JSON; and a token callback's own exception reaches the caller of
`Pipeline.run` unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llmnet_testing import FakeOpenAIServer

from llmnet_core import BackendError, Pipeline

LLMNET = str(Path(sys.executable).parent / "llmnet")
#: more than any pipe holds (Linux allows at most 1 MiB), so writing it needs a reader to the end
LONG_ANSWER = "lorem ipsum " * 110_000
MODES = {"stream": [], "no-stream": ["--no-stream"], "json": ["--format", "json"]}


def in_blocks(text: str) -> list[str]:
    return [text[i : i + 4096] for i in range(0, len(text), 4096)]


@pytest.fixture(scope="module")
def long_model() -> Any:
    with FakeOpenAIServer(LONG_ANSWER, pieces=in_blocks) as server:
        yield server


def composition(folder: Path, url: str) -> Path:
    path = folder / "billing.json"
    data = {
        "models": {"bot": {"type": "external", "url": url, "api-key": None}},
        "architecture": [
            {"name": "billing", "layer": 0, "model": "bot", "output-to": ["output"]},
            {"name": "output", "adapter": "output"},
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", list(MODES))
def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path, long_model, mode):
    path = composition(tmp_path, long_model.url)
    process = subprocess.Popen(
        [LLMNET, "run", str(path), "hi", *MODES[mode]], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)  # `| head -c 10`
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert err == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("mode", list(MODES))
def test_a_full_disk_is_an_output_error(tmp_path, long_model, mode):
    path = composition(tmp_path, long_model.url)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [LLMNET, "run", str(path), "hi", *MODES[mode]],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the answer: No space left on device\n"


async def test_a_token_callback_failure_is_the_callers_not_the_backends(tmp_path):
    def on_token(piece: str) -> None:
        raise ValueError("the caller's own bug")

    with FakeOpenAIServer("one two three") as server:
        async with Pipeline.from_file(composition(tmp_path, server.url)) as pipeline:
            with pytest.raises(ValueError, match="the caller's own bug") as caught:
                await pipeline.run("hi", on_token=on_token)
            assert not isinstance(caught.value, BackendError)
            # the pipeline still works: the stream that failed was closed, not left half read
            assert (await pipeline.run("again")).output == "one two three"
