"""Cold-start time of the `llmnet` command: median wall time of `llmnet --help` in a fresh process.

Each run starts a new process of the venv's `llmnet` console script (so the interpreter, site-packages,
the editable-install finders, click, pluggy, the plugin manager and every installed plugin's entry point
are all paid for), interleaved with `python -c pass` runs of the same interpreter as the baseline (the
bare interpreter start). Prints both medians, the difference (what llmnet itself costs) and the ratio;
the target is `llmnet --help` ≤ 0.25 s median with every built-in plugin installed.

Then it runs `python -X importtime` on the same entry point (`from llmnet_core.cli import main; main()`
with `--help`) and prints the 10 imports with the largest cumulative time, and the 10 with the largest
self time, so heavy imports are visible.

LLMNET_LOAD_PLUGINS and LLMNET_BLOCK_PLUGINS are removed from the children's environment, so every
installed plugin loads. Needs only the standard library.

    .venv/bin/python benchmarks/cold_start.py
    .venv/bin/python benchmarks/cold_start.py --runs 30 --llmnet /path/to/venv/bin/llmnet
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

TARGET_SECONDS = 0.25
REPO = Path(__file__).resolve().parent.parent
ENTRY = "import sys; sys.argv[0] = 'llmnet'; from llmnet_core.cli import main; main()"
IMPORTTIME_RE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def child_env() -> dict[str, str]:
    """The environment for child processes: ours, without the plugin allow/block lists."""
    env = dict(os.environ)
    for key in ("LLMNET_LOAD_PLUGINS", "LLMNET_BLOCK_PLUGINS", "PYTHONPROFILEIMPORTTIME"):
        env.pop(key, None)
    return env


def time_once(command: list[str], env: dict[str, str]) -> float:
    """Wall time (seconds) of one run of `command`; raises when it fails."""
    started = time.perf_counter()
    completed = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=60, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(command)} exited with {completed.returncode}: {' / '.join(detail)}")
    return elapsed


def time_commands(commands: dict[str, list[str]], runs: int, warmups: int) -> dict[str, list[float]]:
    """Run each command `warmups` times unmeasured, then `runs` times measured, interleaved."""
    env = child_env()
    for _ in range(warmups):
        for command in commands.values():
            time_once(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(time_once(command, env))
    return times


@dataclass
class ImportTime:
    """One line of `-X importtime` output (microseconds)."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def import_times(python: str) -> list[ImportTime]:
    """Run the llmnet entry point with `--help` under `-X importtime` and parse its report."""
    completed = subprocess.run(
        [python, "-X", "importtime", "-c", ENTRY, "--help"],
        capture_output=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the importtime run failed: {completed.stderr.decode(errors='replace')[-500:]}")
    rows: list[ImportTime] = []
    for line in completed.stderr.decode(errors="replace").splitlines():
        match = IMPORTTIME_RE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            rows.append(ImportTime(module, int(self_us), int(cumulative_us), len(indent) // 2))
    return rows


PLUGIN_PROBE = """
import json, time
import llmnet_core.plugins
from importlib.metadata import entry_points
started = time.perf_counter()
eps = list(entry_points(group="llmnet"))
found = time.perf_counter() - started
loads = []
for ep in eps:
    started = time.perf_counter()
    try:
        ep.load()
        error = None
    except Exception as exc:
        error = type(exc).__name__
    loads.append([ep.name, ep.value, time.perf_counter() - started, error])
print(json.dumps({"entry_points": found, "loads": loads}))
"""


def plugin_load_times(python: str) -> dict[str, Any]:
    """Time the entry-point scan and each plugin's import in a fresh process (after llmnet_core).

    `-X importtime` does not see these imports: entry points are loaded with importlib.import_module,
    which bypasses the interpreter's import-time logging.
    """
    completed = subprocess.run(
        [python, "-c", PLUGIN_PROBE], capture_output=True, text=True, env=child_env(), timeout=60, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the plugin probe failed: {completed.stderr[-500:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def installed_plugins() -> list[str]:
    """The `llmnet` entry points installed in this interpreter, as `name (module)`."""
    return sorted(f"{ep.name} ({ep.value})" for ep in entry_points(group="llmnet"))


def missing_builtin_plugins(python: str) -> list[str]:
    """Built-in plugin folders (plugins/*/ with a pyproject.toml) whose distribution is not installed."""
    folders = sorted(p.parent.name for p in (REPO / "plugins").glob("*/pyproject.toml"))
    if not folders:
        return []
    probe = (
        "import sys\nfrom importlib.metadata import distribution, PackageNotFoundError\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        distribution(name)\n"
        "    except PackageNotFoundError:\n        print(name)\n"
    )
    completed = subprocess.run(
        [python, "-c", probe, *folders], capture_output=True, text=True, timeout=60, check=False
    )
    return completed.stdout.split()


def default_llmnet(python: str) -> str:
    """The `llmnet` console script next to `python` (the venv's), else whatever PATH finds."""
    candidate = Path(python).parent / ("llmnet.exe" if os.name == "nt" else "llmnet")
    return str(candidate) if candidate.exists() else "llmnet"


def describe(name: str, values: list[float]) -> str:
    median = statistics.median(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return (
        f"{name:<16} median {median * 1000:7.1f} ms   min {min(values) * 1000:7.1f} ms   "
        f"max {max(values) * 1000:7.1f} ms   stdev {spread * 1000:5.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--runs", type=int, default=15, help="measured runs of each command [default: 15]")
    parser.add_argument(
        "--warmups", type=int, default=2, help="unmeasured runs of each command first [default: 2]"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter [default: the one running this script]"
    )
    parser.add_argument(
        "--llmnet", default=None, help="the llmnet console script [default: next to --python]"
    )
    parser.add_argument(
        "--top", type=int, default=10, help="imports to list from -X importtime [default: 10]"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmups < 0 or args.top < 1:
        parser.error("--runs and --top must be positive, --warmups not negative")
    llmnet = args.llmnet or default_llmnet(args.python)

    print(f"interpreter: {args.python} (python {sys.version.split()[0]} runs this script)")
    print(f"llmnet:      {llmnet}")
    print(f"installed llmnet plugins: {', '.join(installed_plugins()) or 'none'}")
    missing = missing_builtin_plugins(args.python)
    if missing:
        print(f"NOTE: built-in plugins not installed (the target assumes all are): {', '.join(missing)}")
    print(f"{args.runs} measured runs each after {args.warmups} warm-ups, interleaved\n")

    times = time_commands(
        {"python -c pass": [args.python, "-c", "pass"], "llmnet --help": [llmnet, "--help"]},
        args.runs,
        args.warmups,
    )
    base, cli = statistics.median(times["python -c pass"]), statistics.median(times["llmnet --help"])
    for name, values in times.items():
        print(describe(name, values))
    print(f"{'difference':<16} {(cli - base) * 1000:7.1f} ms (what llmnet adds to the interpreter start)")
    print(f"{'ratio':<16} {cli / base:7.2f} × python -c pass")
    verdict = "within" if cli <= TARGET_SECONDS else "OVER"
    print(f"target: llmnet --help ≤ {TARGET_SECONDS * 1000:.0f} ms median → {verdict} target\n")

    rows = import_times(args.python)
    total = sum(r.cumulative_us for r in rows if r.depth == 0)
    print(f"python -X importtime, llmnet --help: {len(rows)} modules, {total / 1000:.1f} ms of imports")
    print(f"top {args.top} by cumulative time (depth = nesting level in the import tree):")
    print(f"  {'cumulative ms':>13} {'self ms':>8} {'depth':>5}  module")
    for row in sorted(rows, key=lambda r: r.cumulative_us, reverse=True)[: args.top]:
        print(f"  {row.cumulative_us / 1000:13.1f} {row.self_us / 1000:8.1f} {row.depth:5d}  {row.module}")
    print(f"top {args.top} by self time:")
    for row in sorted(rows, key=lambda r: r.self_us, reverse=True)[: args.top]:
        print(f"  {row.cumulative_us / 1000:13.1f} {row.self_us / 1000:8.1f} {row.depth:5d}  {row.module}")

    probe = plugin_load_times(args.python)
    print(
        "\nplugin imports (not in -X importtime: entry points load through importlib.import_module), "
        "in a fresh process after llmnet_core:"
    )
    print(f"  {probe['entry_points'] * 1000:8.1f} ms  scanning the `llmnet` entry-point group")
    for name, module, seconds, error in probe["loads"]:
        status = f"  FAILED: {error}" if error else ""
        print(f"  {seconds * 1000:8.1f} ms  {name} ({module}){status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
