"""A distribution that declares several `llmnet` entry points: each one is loaded and registered as a
plugin of its own, `distribution:entry-point`; one that fails is listed under "failed to load"; the
allow and block lists take the distribution's name or an entry point's full name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LLMNET = str(Path(sys.executable).with_name("llmnet"))

MODULES = {
    "multi_backends": (
        "from llmnet_core import Backend, hookimpl\n\n"
        "class Echo(Backend):\n    '''Says what it is told.'''\n\n"
        "@hookimpl\ndef llmnet_register_backends(register):\n    register('multi-echo', Echo)\n"
    ),
    "multi_routers": (
        "from llmnet_core import Router, hookimpl\n\n"
        "class First(Router):\n    '''Picks the first candidate.'''\n\n"
        "@hookimpl\ndef llmnet_register_routers(register):\n    register('multi-first', First)\n"
    ),
    "multi_broken": "import numpyy\n",
}


@pytest.fixture
def multi_plugin(tmp_path: Path) -> dict[str, str]:
    """The distribution `multi-plugin` on PYTHONPATH, with three entry points: backends, routers, and
    one that fails to import."""
    for module, body in MODULES.items():
        (tmp_path / f"{module}.py").write_text(body)
    info = tmp_path / "multi_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: multi-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[llmnet]\nbackends = multi_backends\nrouters = multi_routers\nbroken = multi_broken\n"
    )
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def plugins(env: dict[str, str], **variables: str) -> dict[str, Any]:
    done = subprocess.run(
        [LLMNET, "plugins", "--json"], env={**env, **variables}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return {
        "names": [p["name"] for p in report["plugins"]],
        "loaded": {p["name"]: p for p in report["plugins"] if p["name"].startswith("multi-plugin")},
        "failed": {f["name"]: f["error"] for f in report["failed"] if f["name"].startswith("multi-plugin")},
    }


def test_every_entry_point_of_a_distribution_is_registered_under_its_own_name(multi_plugin):
    found = plugins(multi_plugin)
    assert found["loaded"]["multi-plugin:backends"]["provides"] == {"backends": ["multi-echo"]}
    assert found["loaded"]["multi-plugin:routers"]["provides"] == {"routers": ["multi-first"]}
    assert found["loaded"]["multi-plugin:routers"]["version"] == "1.0"
    assert found["failed"] == {"multi-plugin:broken": "ModuleNotFoundError: No module named 'numpyy'"}
    assert "llmnet-openai" in found["names"]  # a distribution with one entry point keeps its own name


def test_the_text_listing_shows_each_and_how_to_hide_the_broken_one(multi_plugin):
    done = subprocess.run([LLMNET, "plugins"], env=multi_plugin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("multi-plugin:backends") and "backends: multi-echo" in line for line in lines)
    assert any(line.startswith("multi-plugin:routers") and "routers: multi-first" in line for line in lines)
    assert "(set LLMNET_BLOCK_PLUGINS=multi-plugin:broken to hide)" in done.stdout


def test_the_block_and_load_lists_take_the_distribution_or_one_entry_point(multi_plugin):
    one_blocked = plugins(multi_plugin, LLMNET_BLOCK_PLUGINS="multi-plugin:broken")
    assert sorted(one_blocked["loaded"]) == ["multi-plugin:backends", "multi-plugin:routers"]
    assert one_blocked["failed"] == {}
    blocked = plugins(multi_plugin, LLMNET_BLOCK_PLUGINS="Multi-Plugin")
    assert blocked["loaded"] == {} and blocked["failed"] == {}
    only = plugins(multi_plugin, LLMNET_LOAD_PLUGINS="multi-plugin:routers")
    assert list(only["loaded"]) == ["multi-plugin:routers"] and only["failed"] == {}
