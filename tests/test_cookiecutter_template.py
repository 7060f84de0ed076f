"""The plugin template in cookiecutter-plugin/: every kind renders a project that builds, installs, is
listed by `llmnet plugins`, passes its own tests and ruff.

The rendered projects are built and installed by pip into temporary folders that only the
subprocesses using them see (through PYTHONPATH): nothing is installed into, or left behind in, the
environment running these tests. Deselect them with `-k "not cookiecutter"`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

cookiecutter_main = pytest.importorskip("cookiecutter.main")
cookiecutter_exceptions = pytest.importorskip("cookiecutter.exceptions")

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "cookiecutter-plugin"
BIN = Path(sys.executable).parent
TIMEOUT = 180


@dataclass(frozen=True)
class Kind:
    """One kind the template offers, the distribution rendered for it, and what that must register."""

    kind: str
    plugin_name: str
    module: str
    provides: dict[str, list[str]]

    @property
    def package(self) -> str:
        return self.plugin_name.replace("-", "_")


KINDS = [
    Kind("backend", "llmnet-tmpl-backend", "backend", {"backends": ["tmpl-backend-echo"]}),
    Kind("transport", "llmnet-tmpl-transport", "transport", {"transports": ["tmpl-transport-upper"]}),
    # a long name on purpose: the rendered code must stay within the line length whatever the name
    Kind(
        "secret_provider",
        "llmnet-tmpl-with-a-rather-long-company-name-secret-provider",
        "provider",
        {"secret sources": ["tmpl-with-a-rather-long-company-name-secret-provider-static"]},
    ),
    Kind(
        "condition",
        "llmnet-tmpl-condition",
        "conditions",
        {"conditions": ["tmpl_condition_is_question()"]},
    ),
]
KIND_IDS = [k.kind for k in KINDS]


@dataclass(frozen=True)
class Rendered:
    """A rendered project and the folder pip installed it into."""

    kind: Kind
    project: Path
    site: Path


def render(output_dir: Path, **context: str) -> Path:
    """Render the template without prompts; cookiecutter's replay file goes to `output_dir` too."""
    config = output_dir / "cookiecutter-config.yaml"
    if not config.exists():
        output_dir.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f"cookiecutters_dir: {json.dumps(str(output_dir / 'cookiecutters'))}\n"
            f"replay_dir: {json.dumps(str(output_dir / 'replay'))}\n",
            encoding="utf-8",
        )
    return Path(
        cookiecutter_main.cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=context,
            output_dir=str(output_dir),
            config_file=str(config),
        )
    )


def _builds_offline() -> bool:
    """Whether this environment's setuptools can build a wheel by itself (no build isolation)."""
    try:
        parts = tuple(int(p) for p in re.findall(r"\d+", version("setuptools"))[:2])
    except PackageNotFoundError:
        return False
    if parts < (64, 0):  # PEP 660 and the [project] table as the template uses them
        return False
    return parts >= (70, 1) or importlib.util.find_spec("wheel") is not None  # bdist_wheel


def pip_install(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """Build a copy of `project` (setuptools writes build/ and *.egg-info next to the sources) and
    install it, without dependencies, into the folder `site`.

    Offline (`--no-build-isolation --no-index`) when the environment's setuptools can build wheels;
    otherwise pip builds in an isolated environment from its configured indexes.
    """
    source = site.with_name(site.name + "-src")
    shutil.copytree(project, source)
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site)]
    if _builds_offline():
        command += ["--no-build-isolation", "--no-index"]
    return subprocess.run(
        [*command, str(source)], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def env_with(*sites: Path) -> dict[str, str]:
    """The environment for a subprocess that sees the plugins installed in `sites`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LLMNET_"))}
    paths = [str(site) for site in sites]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run(command: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run `command`, fail the test with its output unless it succeeds, return its stdout."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Rendered]]:
    """Every kind rendered once and installed into its own folder (builds run in parallel)."""
    base = tmp_path_factory.mktemp("cookiecutter-plugin")
    projects = {k.kind: render(base / "projects", plugin_name=k.plugin_name, kind=k.kind) for k in KINDS}
    result = {k.kind: Rendered(k, projects[k.kind], base / "site" / k.kind) for k in KINDS}
    with ThreadPoolExecutor(max_workers=len(result)) as pool:
        futures = {kind: pool.submit(pip_install, r.project, r.site) for kind, r in result.items()}
    for kind, future in futures.items():
        done = future.result()
        assert done.returncode == 0, f"pip could not install the {kind} plugin:\n{done.stdout}\n{done.stderr}"
    yield result


# -- rendering ---------------------------------------------------------------------------------------


def test_the_defaults_render_an_echo_backend_named_after_the_plugin(tmp_path: Path) -> None:
    project = render(tmp_path)
    assert project.name == "llmnet-acme"
    init = (project / "llmnet_acme" / "__init__.py").read_text(encoding="utf-8")
    assert 'BACKEND_NAME = "acme-echo"' in init
    assert (project / "llmnet_acme" / "backend.py").is_file()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_each_kind_renders_only_its_own_example(rendered: dict[str, Rendered], kind: Kind) -> None:
    project = rendered[kind.kind].project
    assert project.name == kind.plugin_name
    files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "README.md",
            "pyproject.toml",
            f"{kind.package}/__init__.py",
            f"{kind.package}/{kind.module}.py",
            "tests/test_plugin.py",
        ]
    )
    for name in files:
        text = (project / name).read_text(encoding="utf-8")
        assert "{{" not in text and "{%" not in text, f"{name} holds unrendered Jinja"
        assert "cookiecutter" not in text, f"{name} mentions the template"
        if name.endswith(".py"):
            # only the public API: `llmnet_core` itself (the test kit is `llmnet_testing`)
            private = re.findall(r"^\s*(?:from|import)\s+llmnet_core\.\w+", text, re.M)
            assert not private, f"{name} imports llmnet_core's internals: {private}"
    readme = (project / "README.md").read_text(encoding="utf-8")
    registered = next(iter(kind.provides.values()))[0]
    assert registered in readme


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_the_pyproject_declares_the_entry_point_and_test_settings(
    rendered: dict[str, Rendered], kind: Kind
) -> None:
    data = tomllib.loads((rendered[kind.kind].project / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    assert project["name"] == kind.plugin_name
    assert project["version"] == "0.1.0"
    assert project["dependencies"] == ["llmnet-core"]
    assert "llmnet-testing" in project["optional-dependencies"]["test"]
    assert list(project["entry-points"]["llmnet"].values()) == [kind.package]
    assert data["build-system"]["build-backend"] == "setuptools.build_meta"
    assert data["tool"]["pytest"]["ini_options"]["asyncio_mode"] == "auto"


@pytest.mark.parametrize(
    "answers",
    [
        {"package_name": "not-an-import-name"},
        {"package_name": "class"},
        {"short_name": "9lives"},
        {"version": "one"},
        {"description": 'say "hi"'},
        {"author": "back\\slash"},
    ],
    ids=lambda answers: next(iter(answers)),
)
def test_a_bad_answer_stops_rendering(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict[str, str]
) -> None:
    with pytest.raises(cookiecutter_exceptions.FailedHookException):
        render(tmp_path, plugin_name="llmnet-acme", **answers)
    assert f"error: {next(iter(answers))} " in capfd.readouterr().err
    assert not (tmp_path / "llmnet-acme").exists()


def test_quotes_and_unicode_in_the_description_are_fine(tmp_path: Path) -> None:
    description = "Ollie's ünïcode plugin <for> llmnet & co."
    project = render(tmp_path, description=description, author="Zoë O'Brien")
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["description"] == description
    assert data["project"]["authors"] == [{"name": "Zoë O'Brien"}]


# -- the installed plugins ---------------------------------------------------------------------------


def test_llmnet_plugins_lists_every_kind_with_what_it_registers(rendered: dict[str, Rendered]) -> None:
    sites = [r.site for r in rendered.values()]
    report = json.loads(run([BIN / "llmnet", "plugins", "--json"], cwd=ROOT, env=env_with(*sites)))
    rows = {row["name"]: row for row in report["plugins"]}
    for kind in KINDS:
        row = rows.get(kind.plugin_name)
        assert row is not None, f"{kind.plugin_name} is not listed: {sorted(rows)}"
        assert row["version"] == "0.1.0"
        assert row["provides"] == kind.provides
    names = {k.plugin_name for k in KINDS}
    assert not [f for f in report["failed"] if f["name"] in names]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_the_rendered_project_passes_its_own_tests(rendered: dict[str, Rendered], kind: Kind) -> None:
    plugin = rendered[kind.kind]
    project = plugin.project
    # -P: the package is imported from where pip installed it, not from the project folder
    command = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--rootdir", project, "-c", project / "pyproject.toml", project / "tests"]
    output = run(command, cwd=project, env=env_with(plugin.site))
    assert re.search(r"\b\d+ passed\b", output), output
    assert not re.search(r"\b(failed|error|skipped)\b", output.splitlines()[-1]), output


def test_the_test_extra_is_found_where_the_rendered_tests_run(rendered: dict[str, Rendered]) -> None:
    # pip installed the projects without dependencies: `llmnet-testing` (their `test` extra) comes from
    # the environment running these tests, as `llmnet-core` does
    plugin = rendered["backend"]
    code = "import llmnet_core, llmnet_testing; print(llmnet_testing.FakeOpenAIServer.__name__)"
    output = run([sys.executable, "-P", "-c", code], cwd=plugin.project, env=env_with(plugin.site))
    assert output.strip() == "FakeOpenAIServer"


def test_the_rendered_code_is_ruff_clean(rendered: dict[str, Rendered]) -> None:
    for plugin in rendered.values():
        # each project's own [tool.ruff] settings (the rules a plugin author will run)
        run([BIN / "ruff", "check", "--no-cache", "."], cwd=plugin.project)
        run([BIN / "ruff", "format", "--check", "--no-cache", "."], cwd=plugin.project)
