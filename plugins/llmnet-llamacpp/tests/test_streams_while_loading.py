"""While a model loads on a worker thread, what another thread writes on stdout reaches the user: the
default pipeline's calculator answers arithmetic before the chat model has finished loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llmnet_llamacpp.models import _keep_python_streams

LLMNET = Path(sys.executable).with_name("llmnet")


def test_the_native_silencer_leaves_python_streams_in_place():
    from llama_cpp._utils import suppress_stdout_stderr

    _keep_python_streams()
    before = (sys.stdout, sys.stderr)
    with suppress_stdout_stderr(disable=False):
        inside = (sys.stdout, sys.stderr)
    assert inside == before and (sys.stdout, sys.stderr) == before


def test_an_answer_given_while_the_chat_model_loads_is_printed(tmp_path: Path):
    done = subprocess.run(
        [str(LLMNET), "run", "What is 12 * 7?", "--no-log"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "84" in done.stdout
