"""Ctrl-C while `llmnet` is still starting: the real console script, held inside its first import of the
command line (a `sitecustomize` that stops the import of click until the signal comes), ends as Ctrl-C
ends it at any other moment: `interrupted` on stderr, exit 130, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

LLMNET = str(Path(sys.executable).parent / "llmnet")
DEADLINE = 30.0  # seconds; a bound for things to happen, never a measure of speed

#: prints a marker when `click` is about to be imported, then waits there (up to a minute) for Ctrl-C
HOLD_IMPORT = """
    import sys, time

    class HoldClick:
        def find_spec(self, name, path=None, target=None):
            if name == "click":
                sys.stderr.write("importing click\\n")
                sys.stderr.flush()
                time.sleep(60)
            return None

    sys.meta_path.insert(0, HoldClick())
"""


def test_ctrl_c_during_the_first_imports_is_a_clean_interrupt(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(HOLD_IMPORT), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    process = subprocess.Popen(
        [LLMNET, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stderr is not None
    assert process.stderr.readline() == "importing click\n"  # inside the import now
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=DEADLINE)
    assert (process.returncode, out, err) == (130, "", "interrupted\n")
