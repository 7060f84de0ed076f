"""`llmnet install` / `llmnet uninstall` with a real pip, offline: plugins written here (a folder installed
with `-e PATH`, wheels built here) go into a throwaway virtual environment outside the repository, whose
own `llmnet` installs, lists and uninstalls them. Nothing is installed into the environment running these
tests: the throwaway one sees its packages (llmnet-core, the plugins, pip, setuptools) through a `.pth`
file, after its own, as tests/test_cookiecutter_template.py explains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmnet_core.cli import cli

TIMEOUT = 300  # seconds; a bound for a step to finish, never a measure of speed

PLUGIN = """\
from llmnet_core import hookimpl


@hookimpl
def llmnet_register_conditions(register):
    register("{function}", lambda text: str(text).upper())
"""
BROKEN = "import llmnet_no_such_module\n"


def write_project(folder: Path, name: str, version: str, code: str | None) -> Path:
    """A distribution `name` in `folder`: with `code`, a plugin (module + `llmnet` entry point); without,
    a plain library."""
    package = name.replace("-", "_")
    (folder / package).mkdir(parents=True, exist_ok=True)
    (folder / package / "__init__.py").write_text(code or "VALUE = 1\n", encoding="utf-8")
    entry = f'\n[project.entry-points.llmnet]\n{package} = "{package}"\n' if code else ""
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = ["llmnet-core"]\n'
        f'\n[tool.setuptools]\npackages = ["{package}"]\n{entry}',
        encoding="utf-8",
    )
    return folder


class Throwaway:
    """A virtual environment in a temporary folder, and its `llmnet` (as `python -m llmnet_core`)."""

    def __init__(self, root: Path) -> None:
        venv.EnvBuilder(with_pip=False).create(root)
        self.root = root
        self.python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
        code = "import sysconfig; print(sysconfig.get_path('purelib'))"
        site = Path(subprocess.run([self.python, "-c", code], capture_output=True, text=True).stdout.strip())
        ours = sysconfig.get_path("purelib")
        (site / "llmnet-test-environment.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
        drop = ("PYTHON", "PYTEST_", "VIRTUAL_ENV", "PIP_", "LLMNET_LOAD", "LLMNET_BLOCK")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        # offline, with the setuptools already installed, and none of this machine's pip settings (pip
        # reads PIP_NO_BUILD_ISOLATION inverted: 0 turns build isolation off)
        self.env |= {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_CONFIG_FILE": os.devnull}
        self.env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(self, *args: str | Path, input: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *map(str, args)],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=TIMEOUT,
        )

    def llmnet(self, *args: str | Path, input: str = "") -> subprocess.CompletedProcess[str]:
        done = self.run("-m", "llmnet_core", *args, input=input)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def plugins(self) -> dict[str, dict]:
        listed = self.llmnet("plugins", "--json")
        assert listed.returncode == 0, listed.stderr
        return {row["name"]: row for row in json.loads(listed.stdout)["plugins"]}


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("install")
    assert Path(__file__).resolve().parents[1] not in folder.parents
    return folder


@pytest.fixture(scope="module")
def env(outside: Path) -> Throwaway:
    return Throwaway(outside / "env")


def build_wheel(project: Path, into: Path) -> Path:
    """A wheel of `project` in `into`, built by this environment's pip (which installs nothing)."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "--quiet", "-w", str(into), str(project)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = [w for w in into.glob("*.whl") if w.stat().st_mtime >= project.stat().st_mtime]
    return wheel


def test_install_lists_uninstall(env: Throwaway, outside: Path) -> None:
    """-e PATH, a wheel, a newer wheel of it, then both uninstalled; `llmnet plugins` follows each step."""
    folder = write_project(outside / "acme", "llmnet-acme", "0.3.1", PLUGIN.format(function="acme_shout"))
    installed = env.llmnet("install", "-e", folder)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.splitlines() == ["added    llmnet-acme  0.3.1  conditions: acme_shout()"]
    assert "Successfully installed llmnet-acme-0.3.1" in installed.stderr  # pip's own report
    assert env.plugins()["llmnet-acme"]["provides"] == {"conditions": ["acme_shout()"]}

    code = PLUGIN.format(function="geo_country")
    old = build_wheel(write_project(outside / "geo-0.2", "llmnet-geo", "0.2.0", code), outside / "wheels-0.2")
    new = build_wheel(write_project(outside / "geo-0.3", "llmnet-geo", "0.3.0", code), outside / "wheels-0.3")
    first = env.llmnet("install", old)
    assert first.stdout.splitlines() == ["added    llmnet-geo  0.2.0  conditions: geo_country()"], (
        first.stderr
    )
    upgraded = env.llmnet("install", new)
    assert upgraded.stdout.splitlines() == ["updated  llmnet-geo  0.2.0 → 0.3.0  conditions: geo_country()"]
    listed = env.plugins()
    assert listed["llmnet-geo"]["version"] == "0.3.0" and "llmnet-acme" in listed
    assert "llmnet-openai" in listed  # the plugins of the environment it reuses are still there

    for answer in ("n\n", ""):  # no, and no answer at all: nothing is removed
        kept = env.llmnet("uninstall", "llmnet-acme", input=answer)
        assert kept.returncode == 1 and kept.stderr.startswith("Uninstall llmnet-acme from ")
        assert "Aborted" in kept.stderr and "llmnet-acme" in env.plugins()
    removed = env.llmnet("uninstall", "llmnet-acme", "llmnet-geo", input="y\n")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == ["removed  llmnet-acme  0.3.1", "removed  llmnet-geo   0.3.0"]
    listed = env.plugins()
    assert "llmnet-acme" not in listed and "llmnet-geo" not in listed and "llmnet-openai" in listed
    again = env.llmnet("uninstall", "-y", "llmnet-acme")
    assert again.returncode == 0 and "no llmnet plugin was removed" in again.stderr and not again.stdout


def test_what_is_not_a_working_plugin_is_said(env: Throwaway, outside: Path) -> None:
    plain = env.llmnet("install", "-e", write_project(outside / "plain", "acme-plain", "1.0", None))
    assert plain.returncode == 0, plain.stderr
    assert not plain.stdout and "no llmnet plugin was added or updated" in plain.stderr

    broken = env.llmnet("install", "-e", write_project(outside / "broken", "llmnet-broken", "0.1.0", BROKEN))
    assert broken.returncode == 1
    (line,) = broken.stdout.splitlines()
    assert line.startswith("added    llmnet-broken  0.1.0  failed to load: ModuleNotFoundError: ")
    assert "error: a plugin that was installed cannot be loaded" in broken.stderr

    missing = env.llmnet("install", outside / "no-such-plugin-1.0-py3-none-any.whl")
    assert missing.returncode == 1 and not missing.stdout
    assert missing.stderr.splitlines()[-1].startswith("error: pip install failed (exit status 1)")

    for name in ("acme-plain", "llmnet-broken"):
        assert env.llmnet("uninstall", "--yes", name).returncode == 0


def test_without_pip_the_error_says_how_to_add_it(env: Throwaway) -> None:
    blocked = "import sys; sys.modules['pip'] = None"  # as if pip were not installed
    done = env.run(
        "-c", f"{blocked}; from llmnet_core.__main__ import main; main()", "install", "llmnet-acme"
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"error: pip is not installed in the environment llmnet runs from ({env.root}"
    )
    assert "-m ensurepip" in done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["install"], "error: name a plugin to install"),
        (["install", "llmnet==0.2"], 'error: "llmnet" on the package index is another project'),
        (["install", "-e", "no-such-folder"], "error: -e no-such-folder: no such folder"),
        (["uninstall", "-y", "llmnet-acme", "LLMNet_Core"], "error: llmnet-core is llmnet itself"),
    ],
)
def test_refused_before_pip_runs(args: list[str], said: str) -> None:
    """In-process: these stop before pip runs (were one to get through, pip could reach no index)."""
    offline = {"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": None}
    result = CliRunner().invoke(cli, args, obj={}, env=offline)
    assert result.exit_code == 2
    assert result.stderr.startswith(said) and len(result.stderr.splitlines()) == 2
