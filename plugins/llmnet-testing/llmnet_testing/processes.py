"""Real servers run as processes by the tests: stopping one for sure, and llama-cpp-python's own
OpenAI-compatible server on a GGUF model."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .http import free_port


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM (a graceful stop), then SIGKILL when it has not ended within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@contextmanager
def llama_cpp_server(model: Path, folder: Path, *, chat_format: str = "gemma") -> Iterator[str]:
    """`python -m llama_cpp.server` on `model` (n_ctx 2048) on a free 127.0.0.1 port, its log in `folder`;
    yields its base URL once `/v1/models` answers (120 s at most), and stops it at the end."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--chat_format", chat_format]
    with (folder / "server.log").open("wb") as log:
        # llama.cpp is chatty: a file, not a pipe nobody drains
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = Path(log.name).read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"llama.cpp server did not start: {tail}")
                time.sleep(0.3)
            yield url
        finally:
            stop_process(process)
