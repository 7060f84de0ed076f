"""Ctrl-C while the embedded model loads: the real `llmnet --debug run` on the bundled model, interrupted as
soon as it says it is loading. llama.cpp cannot stop a load once begun (its progress callback comes only
after the vocabulary, most of the load), so llmnet must exit without waiting for the loading thread: the
last thing it prints is `interrupted` (a process that waited for the load would go on printing llama.cpp's
notes, which `--debug` shows), and `interrupted` is not lost while llama.cpp points stderr at /dev/null."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

LLMNET = str(Path(sys.executable).parent / "llmnet")
DEADLINE = 120.0  # seconds; a bound for things to happen, never a measure of speed


def test_ctrl_c_while_the_model_loads_exits_at_once():
    process = subprocess.Popen(
        [LLMNET, "--debug", "run", "What is the capital of France?"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    before = []
    for line in process.stderr:
        before.append(line)
        if line.startswith("loading model"):  # said by the loading thread as it starts the load
            break
    else:
        raise AssertionError("no 'loading model' line:\n" + "".join(before))
    process.send_signal(signal.SIGINT)
    out, after = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130
    assert out == ""
    assert "Traceback" not in "".join(before) + after
    assert after.splitlines()[-1:] == ["interrupted"], after[-3000:]
