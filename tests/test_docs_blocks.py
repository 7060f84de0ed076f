"""Every code block of README.md and docs/*.md is run or checked, page by page, so that the documentation
cannot drift from what llmnet does. How a block is checked, which is also how to write one:

- **Shell blocks** (`sh`, `bash`, `console`, `shell`, and `text` blocks whose first line starts with
  `$ `). With `$ ` prompts, each prompt line is a command and the lines under it are its output;
  without prompts, the whole block is one script. A block runs when one of its commands is `llmnet`
  (or `.venv/bin/llmnet`); blocks of other commands only (`git clone`, `python3 dev.py setup`,
  `pip install`) are instructions for the reader's machine and are not run. Commands run with bash in
  the page's folder (below), in order; `... examples/demo_server.py &` is left out, the suite runs
  that stand-in already.
- **Output.** Every line a block shows must be among the lines the command printed (stdout and stderr
  together, in any order), compared with colours removed and runs of spaces read as one space; for
  output shown as JSON (often abridged), every key shown must be printed. In a shown line, `...` or `…`
  stands for any text (`9d2c...` for an id cut short), a hex id of 12 digits or more for any id, and a
  time (`2025-05-01 09:30:12`) for any time; in a line that shows a duration (`12 ms`, `2.79 s`) and in
  the rows of a table with an `ms` column (`--trace`, `llmnet logs`), any number stands for any number.
  A progress line shown as a terminal draws it (`✓ loading model X (0.9 s)`) is matched against the line
  printed when stderr is no terminal (`loading model X …`). A command must exit with 0, unless the
  output shown has an `error:` line or a count of problems (then with anything else), or a `$ echo $?`
  follows it (then with the status it shows).
- **python** blocks run as scripts in the page's folder, with this environment's Python. A block that is
  a file of a plugin, named by its first line (`# llmnet_acme/__init__.py`) or by the heading above it,
  is written there and compiled, not run (tests/test_cookiecutter_template.py installs the walkthrough
  plugin of plugins.md and runs its tests). A block of `test_` functions runs with pytest and the
  fixtures of the repository's conftest.py (`fake_server`, `write_composition`, ...).
- **Shell blocks run only llmnet** and a few helpers (`echo`, `head`, `curl`, ...): a block that also
  runs other programs must be split or marked.
  `$ llmnet serve ... --port N &` starts the server on a free port for the block's later commands
  (`localhost:N` in them is rewritten to it), and stops it after the block.
- **json / jsonc** blocks: a whole composition (an object with `architecture`) must pass
  `llmnet validate --no-secrets`; other objects, JSON lines, and fragments (`"models": {...}`, read
  inside braces) must parse, comments allowed, with `...` alone on a line for what is left out.
- **toml** blocks must parse. A `text` block that is a usage line (`llmnet run [OPTIONS] ...`) must be
  the command's usage line in `--help`.
- **Markers**, an HTML comment on the line before a block:
  `<!-- docs-test: file PATH -->` writes the block to PATH in the page's folder for the blocks after it
  (a composition is still validated, a Python file is not run);
  `<!-- docs-test: output COMMAND -->` says that the block is what COMMAND prints (compared as above);
  `<!-- docs-test: skip REASON -->` leaves a block out, only for what the suite cannot have (a hosted
  API, a person at a terminal, a server that runs until stopped);
  `<!-- docs-test: slow REASON -->` runs a block only with LLMNET_DOCS_SLOW=1 (minutes on the bundled
  model).

**The page's folder** is a fresh temporary folder per page, where `examples`, `benchmarks` and `.venv`
are links to the repository's (blocks never write through them), with the files of
`tests/docs_pages/<page>/`: what a page's examples assume, such as a composition with mistakes; a
`setup.sh` there runs first. `/home/me` in a block stands for the page's folder. Model servers:
`examples/demo_server.py` on 127.0.0.1:8765, as the docs start it; for compositions that name
`localhost:8080`, a stand-in that answers as the models the docs name (the address is rewritten to its
port in blocks and outputs).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from llmnet_testing import FakeOpenAIServer

from llmnet_core.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FIXTURES = Path(__file__).with_name("docs_pages")
BIN = Path(sys.executable).parent
TIMEOUT = 120  # seconds; a bound for one command, never a measure of speed
DEMO_PORT = 8765
SHELLS = {"sh", "bash", "console", "shell", "shell-session"}
FENCE = re.compile(r"^(\s*)(`{3,})(\S*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*-->\s*$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DURATION = re.compile(r"\d(\.\d+)?\s?(ms|s)\b")
HEX_ID = re.compile(r"\b[0-9a-f]{12,}\b")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass
class Block:
    """One fenced block of a page: where it is, its language, its text and its marker (if any)."""

    page: Path
    line: int
    lang: str
    text: str
    marker: str = ""
    argument: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of `page`, each with the marker comment just before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, lang = fence.groups()
        end = next(
            (
                j
                for j in range(i + 1, len(lines))
                if lines[j].strip() == ticks and lines[j].startswith(indent)
            ),
            len(lines),
        )
        body = "\n".join(
            line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : end]
        )
        block = Block(page, i + 1, lang.lower(), body + "\n")
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = MARKER.match(lines[before]) if before >= 0 else None
        if marker:
            block.marker, block.argument = marker.group(1), marker.group(2)
        found.append(block)
        i = end + 1
    return found


# -- the world the pages' blocks run in --------------------------------------------------------------------


def docs_model(request: dict[str, Any]) -> str:
    """The stand-in for the models the docs name on localhost:8080."""
    model = request.get("model", "")
    text = request["messages"][-1]["content"].lower()
    if "phone" in text:  # chat-and-logs.md shows a turn whose model failed
        raise RuntimeError("the model is down")
    if model == "tech-model":
        return "Which version of the app do you use?"
    if model == "billing-model":
        return "You were charged twice because the renewal retried after a timeout; a refund is on its way."
    if "0.5b" in model:  # the routing model of quickstart.md's support.json
        return "tech" if any(w in text for w in ("crash", "error", "install", "bug")) else "billing"
    if "3b" in model:
        return "You were charged twice because a renewal retried; a refund is on its way."
    return "The capital of France is Paris."


@pytest.fixture(scope="module")
def standins() -> Iterator[dict[str, str]]:
    """examples/demo_server.py on its port (a subprocess, as the docs start it) and the docs' model."""
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "demo_server.py")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    model = FakeOpenAIServer(docs_model, name="docs").start()
    try:
        _wait_for_port(DEMO_PORT, demo)
        yield {
            "localhost:8080": model.url.removeprefix("http://"),
            "127.0.0.1:8080": model.url.removeprefix("http://"),
        }
    finally:
        demo.terminate()
        demo.wait(timeout=10)
        model.stop()


def _wait_for_port(port: int, process: subprocess.Popen[str], what: str = "examples/demo_server.py") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise AssertionError(f"{what} did not start:\n{process.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    raise AssertionError(f"{what} is not listening on {port}")


def _rewrite(text: str, addresses: dict[str, str]) -> str:
    for written, actual in addresses.items():
        text = text.replace(written, actual)
    return text


@dataclass
class Folder:
    """A page's folder, the environment its commands run with, and the addresses rewritten in them."""

    path: Path
    env: dict[str, str]
    addresses: dict[str, str]
    failures: list[str] = field(default_factory=list)

    def rewrite(self, text: str) -> str:
        return _rewrite(text, self.addresses)

    def fail(self, block: Block, message: str) -> None:
        self.failures.append(f"{block.where} ({block.lang or 'no language'}): {message}")

    def bash(self, command: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["bash", "-c", command],
                cwd=self.path,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(command, 124, "", f"(still running after {timeout} s)")


def make_folder(page: Path, tmp: Path, addresses: dict[str, str]) -> Folder:
    folder = tmp / page.stem
    folder.mkdir()
    for name in ("examples", "benchmarks", ".venv"):
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    fixtures = FIXTURES / page.stem
    for source in sorted(fixtures.rglob("*")) if fixtures.is_dir() else ():
        if source.is_file():
            target = folder / source.relative_to(fixtures)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_rewrite(source.read_text(encoding="utf-8"), addresses), encoding="utf-8")
    drop = ("LLMNET_", "PYTEST_", "NO_COLOR", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "TERM": "dumb",
        "COLUMNS": "200",
        "LLMNET_DATA_DIR": str(tmp / f"{page.stem}-data"),
    }
    return Folder(folder, env, {**addresses, "/home/me": str(folder)})


# -- comparing what a block shows with what a command printed ----------------------------------------------


def _normal(line: str) -> str:
    return " ".join(ANSI.sub("", line).split())


def line_pattern(shown: str, *, numbers: bool) -> re.Pattern[str]:
    """The regular expression a shown line stands for (see the module's docstring)."""
    text = _normal(shown)
    if text.startswith("✓ "):  # a finished progress line, as a terminal shows it
        text = re.sub(r"\s*\(\d+(\.\d+)? m?s\)$", "", text[2:]) + " …"
    parts = re.split(
        r"((?:\b[0-9a-f]+)?(?:\.\.\.|…)|\b[0-9a-f]{12,}\b|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d+(?:\.\d+)?)", text
    )
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(re.escape(part))
        elif part.endswith(("...", "…")):  # anything (an id cut short, with its start)
            out.append(".*")
        elif HEX_ID.fullmatch(part):
            out.append("[0-9a-f]{12,}")
        elif TIMESTAMP.fullmatch(part):
            out.append(TIMESTAMP.pattern)
        elif numbers:
            out.append(r"\d+(?:\.\d+)?")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def missing_lines(shown: list[str], printed: str) -> list[str]:
    """The shown lines that match no printed line (for shown JSON, the keys that no printed line has)."""
    if next((line.strip() for line in shown if line.strip()), "").startswith("{"):
        keys = set(re.findall(r'"([^"]+)":', printed))
        return sorted({k for k in re.findall(r'"([^"]+)":', "\n".join(shown)) if k not in keys | {"..."}})
    actual = [_normal(line) for line in printed.splitlines()]
    missing, in_table = [], False
    for line in shown:
        text = _normal(line)
        if not text:
            in_table = False
            continue
        if re.search(r"(^|\s)ms(\s|$)", text) and not re.search(r"(?<![\w.])\d+(?:\.\d+)?\s?ms\b", text):
            in_table = True  # a table with a column of times (a trace, a list of logged requests)
        elif text.startswith("total "):
            in_table = False
        pattern = line_pattern(
            line, numbers=in_table or text.startswith("total ") or bool(DURATION.search(text))
        )
        if not any(pattern.fullmatch(a) for a in actual):
            missing.append(line)
    return missing


def expects_failure(shown: list[str]) -> bool:
    return any(re.match(r"\s*error:", line) or re.search(r": \d+ problems?$", line) for line in shown)


# -- checking each kind of block ------------------------------------------------------------------------


def commands_of(block: Block) -> list[tuple[str, list[str]]]:
    """`$ ` commands with the output lines shown under each (continuation lines joined)."""
    result: list[tuple[str, list[str]]] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + "\n" + lines[i]
            result.append((command, []))
        elif result:
            result[-1][1].append(line)
        i += 1
    return result


#: what a runnable shell block may run besides llmnet (anything else is for the reader's machine only)
HELPERS = {"echo", "cat", "head", "tail", "printf", "export", "grep", "curl", "sleep", "kill", "wait", "test"}
STANDIN = re.compile(r"demo_server\.py\s*&\s*$")  # the suite runs this stand-in itself


def command_names(script: str) -> set[str]:
    """The programs a shell script runs (`VAR=x` assignments, comments and `$ ` prompts aside)."""
    names = set()
    for line in script.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line.removeprefix("$ "))
        if STANDIN.search(line):
            continue
        for part in re.split(r"\|\|?|;|&&?|\$\(", line):
            words = [w for w in part.split() if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", w)]
            if words and not words[0].startswith(("'", '"', ")")):
                names.add(words[0].removeprefix(".venv/bin/"))
    return names


def is_shell(block: Block) -> bool:
    first = block.text.lstrip().splitlines()[0] if block.text.strip() else ""
    return block.lang in SHELLS or (block.lang in ("text", "") and first.startswith("$ "))


SERVE = re.compile(r"^\$ (llmnet serve [^&]*--port (\d+)[^&]*)&\s*$", re.M)


def check_shell(block: Block, folder: Folder) -> None:
    """Run a shell block; `$ llmnet serve ... --port N &` starts a server on a free port for the block's
    later commands (`localhost:N` is rewritten to it) and stops it after the block."""
    serve = SERVE.search(block.text)
    if serve is None:
        _check_shell(block, folder)
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    written = serve.group(2)
    ours = {f"{host}:{written}": f"127.0.0.1:{port}" for host in ("localhost", "127.0.0.1")}
    local = Folder(
        folder.path, folder.env, {f"--port {written}": f"--port {port}", **folder.addresses, **ours}
    )
    server = subprocess.Popen(
        ["bash", "-c", f"exec {local.rewrite(serve.group(1))}"],
        cwd=folder.path,
        env=folder.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_port(port, server, str(block.where))
        _check_shell(block, local)
    finally:
        server.terminate()
        server.wait(timeout=30)
    folder.failures += local.failures


def _check_shell(block: Block, folder: Folder) -> None:
    text = folder.rewrite(block.text)
    prompts = commands_of(Block(block.page, block.line, block.lang, text))
    programs = command_names("\n".join(c for c, _ in prompts) if prompts else text)
    if "llmnet" not in programs:
        return  # instructions for the reader's machine
    if programs - HELPERS - {"llmnet"}:
        others = ", ".join(sorted(programs - HELPERS - {"llmnet"}))
        folder.fail(block, f"runs {others} besides llmnet: split the block, or mark it (docs-test: skip WHY)")
        return
    commands = [c for c, _ in prompts] or text.splitlines()
    if any(re.match(r"\s*(\.venv/bin/)?llmnet serve\b[^&]*$", c) for c in commands):
        folder.fail(block, "llmnet serve runs until stopped: start it with `$ ... &`, or mark the block")
        return
    if not prompts:
        script = "\n".join(line for line in text.splitlines() if not STANDIN.search(line))
        done = folder.bash("set -e\n" + script)
        if done.returncode != 0:
            folder.fail(block, f"exited with {done.returncode}:\n{done.stdout}{done.stderr}")
        return
    status = 0
    for command, shown in prompts:
        if STANDIN.search(command) or re.fullmatch(r"llmnet serve [^&]*&\s*", command):
            continue  # started before the block
        if command.strip() == "echo $?":
            if shown and shown[0].strip() != str(status):
                folder.fail(block, f"the exit status is {status}, not {shown[0].strip()}")
            continue
        done = folder.bash(command)
        status = done.returncode
        printed = done.stdout + "\n" + done.stderr
        missing = missing_lines(shown, printed)
        if missing:
            folder.fail(block, f"$ {command}\n  not printed: {missing}\n  printed:\n{printed}")
        following = prompts[prompts.index((command, shown)) + 1 :]
        checked_later = bool(following) and following[0][0].strip() == "echo $?"
        if not checked_later and (status != 0) != expects_failure(shown):
            folder.fail(block, f"$ {command}\n  exited with {status}:\n{printed}")


def write_file(folder: Folder, name: str, text: str) -> Path:
    """Write `text` to `name` inside the page's folder (never through its links to the repository)."""
    target = folder.path / name
    assert ".." not in Path(name).parts and not Path(name).is_absolute(), name
    assert Path(name).parts[0] not in ("examples", "benchmarks", ".venv"), name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(folder.rewrite(text), encoding="utf-8")
    return target


def named_file(block: Block) -> str | None:
    """The file a python block is part of: named by its first line (`# llmnet_acme/__init__.py`) or by
    the heading just before it (a heading that ends with the path in backticks)."""
    first = block.text.splitlines()[0] if block.text.strip() else ""
    named = re.fullmatch(r"#\s*([\w./-]+\.py)\s*", first)
    if named:
        return named.group(1)
    lines = block.page.read_text(encoding="utf-8").splitlines()[: block.line - 1]
    heading = next((line for line in reversed(lines) if line.strip()), "")
    named = re.fullmatch(r"#+ .*`([\w./-]+\.py)`\s*", heading)
    return named.group(1) if named else None


def check_python(block: Block, folder: Folder) -> None:
    """Run the block as a script; a block that is a file of a plugin (named) is written and compiled."""
    name = named_file(block)
    if name is not None:
        target = write_file(folder, name, block.text)
        done = folder.bash(f"{sys.executable} -m py_compile {target}")
        if done.returncode != 0:
            folder.fail(block, f"does not compile:\n{done.stderr}")
        return
    script = folder.path / f"block-{block.line}.py"
    script.write_text(folder.rewrite(block.text), encoding="utf-8")
    command = [sys.executable, script.name]
    env = folder.env
    if re.search(r"^(async )?def test_", block.text, re.M):  # a test, with the repository's fixtures
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "conftest",
            "-o",
            "asyncio_mode=auto",
            script.name,
        ]
        env = {**env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command,
        cwd=folder.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if done.returncode != 0:
        folder.fail(block, f"exited with {done.returncode}:\n{done.stdout}{done.stderr[-3000:]}")


def parse_jsonc(text: str) -> Any:
    from llmnet_core.composition.jsonc import loads

    return loads(text)[0]


def check_json(block: Block, folder: Folder, path: Path | None = None) -> None:
    text = block.text.strip()
    if re.search(r"^\s*(\.\.\.|…)\s*$", text, re.M):  # an elision: what it leaves out, and its comma
        text = re.sub(r",(\s*[\]}])", r"\1", re.sub(r"^\s*(\.\.\.|…)\s*\n", "", text, flags=re.M))
    try:
        if text.startswith("{") or text.startswith("["):
            try:
                data = parse_jsonc(text)
            except Exception:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = parse_jsonc("{" + text.rstrip(",") + "}")
    except Exception as exc:
        folder.fail(block, f"does not parse: {exc}")
        return
    if text.startswith("{") and isinstance(data, dict) and "architecture" in data:
        target = path or folder.path / f"block-{block.line}.json"
        if path is None:
            target.write_text(folder.rewrite(block.text), encoding="utf-8")
        done = CliRunner().invoke(cli, ["validate", "--no-secrets", str(target)], obj={})
        if done.exit_code != 0:
            folder.fail(block, f"does not validate:\n{done.output}")


def check_usage(block: Block, folder: Folder) -> None:
    """Each line `llmnet CMD [OPTIONS] ...` must be CMD's usage line (global options aside)."""
    for line in block.text.splitlines():
        shown = _normal(line)
        command = [w for w in shown.split()[1:3] if re.fullmatch(r"[a-z]+", w)][:1]
        result = CliRunner().invoke(cli, [*command, "--help"], obj={}, prog_name="llmnet")
        usage = _normal(result.output.splitlines()[0].removeprefix("Usage:")) if result.output else ""
        if command and usage != shown and not _same_usage(shown, usage):
            folder.fail(block, f"the usage line is {usage!r}")


def _same_usage(shown: str, usage: str) -> bool:
    """`llmnet plugins [--json]` matches `llmnet plugins [OPTIONS]`: options may be spelled out."""
    return _normal(re.sub(r"\[-[^\]]*\]|\[OPTIONS\]", "", shown)) == _normal(usage.replace("[OPTIONS]", ""))


def check_output_of(block: Block, folder: Folder) -> None:
    done = folder.bash(folder.rewrite(block.argument))
    missing = missing_lines(folder.rewrite(block.text).splitlines(), done.stdout + "\n" + done.stderr)
    if done.returncode != 0 or missing:
        folder.fail(block, f"`{block.argument}` exited with {done.returncode}; not printed: {missing}")


def check_block(block: Block, folder: Folder) -> None:
    """Run or check one block (see the module's docstring)."""
    if block.marker == "skip":
        assert block.argument, f"{block.where}: a skip marker says why"
        return
    if block.marker == "file":
        target = write_file(folder, block.argument, block.text)
        if block.lang in ("json", "jsonc"):
            check_json(block, folder, target)
        return
    if block.marker == "output":
        check_output_of(block, folder)
    elif is_shell(block):
        check_shell(block, folder)
    elif block.lang == "python":
        check_python(block, folder)
    elif block.lang in ("json", "jsonc"):
        check_json(block, folder)
    elif block.lang == "toml":
        try:
            tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            folder.fail(block, f"does not parse: {exc}")
    elif block.lang == "text" and re.fullmatch(r"(llmnet [^\n<>|]*\[[^\n<>|]*\n)+", block.text):
        check_usage(block, folder)


SLOW = os.environ.get("LLMNET_DOCS_SLOW") not in (None, "", "0")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_block_of_the_page_runs(page: Path, standins: dict[str, str], tmp_path: Path) -> None:
    folder = make_folder(page, tmp_path, standins)
    if (folder.path / "setup.sh").exists():
        done = folder.bash("bash setup.sh")
        assert done.returncode == 0, f"tests/docs_pages/{page.stem}/setup.sh failed:\n{done.stderr}"
    blocks = blocks_of(page)
    assert blocks or page.name == "compat.md"
    for block in blocks:
        if block.marker == "slow" and not SLOW:
            continue
        check_block(block, folder)
    assert not folder.failures, "\n\n".join(folder.failures)


def test_markers_are_known_and_say_why() -> None:
    for page in PAGES:
        for block in blocks_of(page):
            assert block.marker in ("", "file", "skip", "slow", "output"), f"{block.where}: {block.marker}"
            assert block.marker == "" or block.argument, f"{block.where}: `{block.marker}` needs its argument"
