#!/usr/bin/env python3
"""Developer entry point: `python3 dev.py setup` installs everything and runs the default pipeline on the
embedded model, offline; `python3 dev.py test` runs the whole test suite (setting up first when needed)."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
import time
import venv
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".llmnet-installed"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def plugin_dirs() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def has_test_extra(plugin: Path) -> bool:
    """Whether a plugin declares test-only dependencies as the `test` extra."""
    import tomllib

    project = tomllib.loads((plugin / "pyproject.toml").read_text()).get("project", {})
    return "test" in project.get("optional-dependencies", {})


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in [ROOT / "pyproject.toml", *(d / "pyproject.toml" for d in plugin_dirs())]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_installed() -> None:
    """Create .venv and install the core and every plugin (editable) unless nothing changed since."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python3
        sys.exit(f"llmnet needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        say(f"creating a virtual environment in {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == fingerprint():
        return
    args = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "on"]
    subprocess.run([*args, "--upgrade", "pip", "setuptools", "wheel", "-q"], check=True)
    install_llama_cpp(args)
    say("installing llmnet and its built-in plugins (editable)")
    editables: list[str] = ["-e", f"{ROOT}[test]"]
    for plugin in plugin_dirs():
        editables += ["-e", f"{plugin}[test]" if has_test_extra(plugin) else str(plugin)]
    subprocess.run([*args, *editables], check=True)
    STAMP.write_text(fingerprint())


LLAMA_CPP = "llama-cpp-python[server]>=0.3.9"
BUILD_STEP = re.compile(r"\s*\[(\d+)/(\d+)\]")


def portable_cmake_args() -> str:
    """Build llama.cpp for the x86-64-v3 level (AVX2, FMA, F16C) instead of `-march=native`: a native
    build on a CPU that advertises AMX uses tile instructions that virtual machines often refuse
    (SIGILL), and pip's cache may hand the wheel to another machine. Set CMAKE_ARGS to override."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return ""
    return "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"


def install_llama_cpp(args: list[str]) -> None:
    """Install llama-cpp-python first, showing the progress of its llama.cpp compile (minutes on two
    cores). pip keeps the wheel it builds in its cache, so a later install takes seconds."""
    if subprocess.run([str(PYTHON), "-c", "import llama_cpp.server"], capture_output=True).returncode == 0:
        return
    say("installing llama-cpp-python: the first time, this compiles llama.cpp (several minutes)")
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    env.setdefault("CMAKE_ARGS", portable_cmake_args())
    process = subprocess.Popen(
        [*args, "-v", LLAMA_CPP], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    tail: deque[str] = deque(maxlen=60)
    started, shown, tty = time.monotonic(), -1, sys.stdout.isatty()
    for line in process.stdout:
        tail.append(line)
        step = BUILD_STEP.match(line)
        if step:
            done, total = int(step.group(1)), int(step.group(2))
            percent = 100 * done // total
            if tty:
                print(f"\r    compiling llama.cpp: {done}/{total} ({percent}%)", end="", flush=True)
            elif percent // 10 != shown // 10:
                print(f"    compiling llama.cpp: {percent}% ({time.monotonic() - started:.0f} s)", flush=True)
            shown = percent
        elif line.startswith(("Collecting", "Successfully installed", "Using cached", "Building wheel")):
            print(("\n" if tty and shown >= 0 else "") + "    " + line.strip(), flush=True)
    if process.wait() != 0:
        sys.stdout.write("".join(tail))
        sys.exit(f"installing {LLAMA_CPP} failed (the last lines of pip's output are above)")
    say(f"llama-cpp-python ready in {time.monotonic() - started:.0f} s")


def demo() -> int:
    """Run the bundled default pipeline (router + handlers on the embedded model), offline."""
    say('running the default pipeline on the embedded model: llmnet run "What is the capital of France?"')
    command = [str(BIN / "llmnet"), "run", "What is the capital of France?", "--trace"]
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if command == "setup":
        ensure_installed()
        return demo()
    if command == "test":
        ensure_installed()
        say("running the test suite")
        return subprocess.run([str(PYTHON), "-m", "pytest", *argv[1:]], cwd=ROOT).returncode
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
