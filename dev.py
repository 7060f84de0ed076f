#!/usr/bin/env python3
"""Developer entry point: `python3 dev.py setup` installs everything and runs an example pipeline;
`python3 dev.py test` runs the whole test suite (setting up first when needed)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
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
    say("installing llmnet and its built-in plugins (editable)")
    args = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "on"]
    subprocess.run([*args, "--upgrade", "pip", "setuptools", "wheel", "-q"], check=True)
    editables: list[str] = ["-e", f"{ROOT}[test]"]
    for plugin in plugin_dirs():
        editables += ["-e", f"{plugin}[test]" if has_test_extra(plugin) else str(plugin)]
    subprocess.run([*args, *editables], check=True)
    STAMP.write_text(fingerprint())


def demo() -> int:
    """Run the example pipeline against a small local OpenAI-compatible server started here."""
    say("running examples/support.json against a local example model server")
    code = (
        "import subprocess, sys\n"
        "from examples.demo_server import start\n"
        "server = start()\n"
        "env = {**__import__('os').environ, 'DEMO_MODEL_URL': server.url}\n"
        "rc = subprocess.run([sys.argv[1], 'run', 'examples/support.json',\n"
        "                     'My invoice shows a double charge', '--trace'], env=env).returncode\n"
        "server.stop()\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run([str(PYTHON), "-c", code, str(BIN / "llmnet")], cwd=ROOT).returncode


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
