"""Plugins installed for a test's subprocesses: a module and its `llmnet` entry points in a folder put on
PYTHONPATH, found as an installed distribution would be."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: a deployer that `llmnet serve` offers as `--placed` and that never serves: for the note and the
#: options a deployer brings, without a distributed engine
PLACED_DEPLOYER = """
from llmnet_core import Deployer, hookimpl


class Placed(Deployer):
    @classmethod
    def serve(cls, settings):
        raise SystemExit("never served in these tests")


@hookimpl
def llmnet_register_deployers(register):
    register("placed", Placed)
"""


def install_plugin(
    site: Path,
    dist: str,
    modules: Mapping[str, str],
    entry_points: Mapping[str, str],
    version: str = "0.0.1",
) -> Path:
    """Write `modules` (name → source) and a `dist` distribution whose `llmnet` entry points are
    `entry_points` (name → module) into `site` (made if missing); returns `site`, for PYTHONPATH."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    (info / "entry_points.txt").write_text(f"[llmnet]\n{lines}")
    return site
