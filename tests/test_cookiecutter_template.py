"""The plugin template in cookiecutter-plugin/: every kind renders a project that builds, installs, is
listed by `llmnet plugins`, passes its own tests and ruff, and whose README composition is valid.

The rendered projects are installed by a real pip into a fresh virtual environment in a temporary folder
outside the repository, and everything that uses them runs from there, as a plugin author's would: nothing
is installed into, or left behind in, the environment running these tests. Deselect them with
`-k "not cookiecutter"`.

The fresh environment sees this environment's packages after its own (llmnet-core and its plugins,
pytest, setuptools), as one made with `--system-site-packages` sees the system's: a `.pth` file adds
them. (`--system-site-packages` itself would show the base interpreter's packages, and this environment
is a virtual one.) So nothing is downloaded: pip builds with the setuptools found there and finds every
dependency, the `test` extra included, already installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

cookiecutter_main = pytest.importorskip("cookiecutter.main")
cookiecutter_exceptions = pytest.importorskip("cookiecutter.exceptions")

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "cookiecutter-plugin"
BIN = Path(sys.executable).parent
TIMEOUT = 300  # seconds; a bound for a step to finish, never a measure of speed


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
    """A rendered project (installed into `Venv`)."""

    kind: Kind
    project: Path


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


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment outside the repository (see the module's docstring)."""

    root: Path
    python: Path
    site: Path

    @classmethod
    def create(cls, root: Path) -> Venv:
        venv.EnvBuilder(with_pip=True).create(root)  # pip from the interpreter's bundled wheel, offline
        python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
        code = "import sysconfig; print(sysconfig.get_path('purelib'))"
        site = Path(run([python, "-c", code], cwd=root).strip())
        ours = sysconfig.get_path("purelib")
        (site / "llmnet-test-environment.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
        return cls(root, python, site)

    @property
    def env(self) -> dict[str, str]:
        """A plugin author's shell: nothing of this test session's environment variables."""
        drop = ("PYTHON", "PYTEST_", "LLMNET_", "VIRTUAL_ENV", "PIP_")
        return {k: v for k, v in os.environ.items() if not k.startswith(drop)}

    def run(self, *args: str | Path, cwd: Path) -> str:
        """`python ARGS` of this environment, in `cwd` (a folder outside the repository)."""
        return run([self.python, *args], cwd=cwd, env=self.env)

    def llmnet(self, *args: str | Path, cwd: Path) -> str:
        return self.run("-m", "llmnet_core", *args, cwd=cwd)

    def install(self, *projects: Path, cwd: Path) -> None:
        """`pip install PROJECT[test] ...`: each project built from a copy (setuptools writes build/
        and *.egg-info next to the sources) and installed with its dependencies, offline."""
        copies = []
        for project in projects:
            copy = cwd / "sources" / project.name
            shutil.copytree(project, copy)
            copies.append(f"{copy}[test]")
        pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        self.run(*pip, "--no-index", "--no-build-isolation", *copies, cwd=cwd)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder outside the repository."""
    folder = tmp_path_factory.mktemp("plugin-author")
    assert ROOT not in folder.parents
    return folder


@pytest.fixture(scope="module")
def fresh_venv(outside: Path) -> Venv:
    return Venv.create(outside / "env")


@pytest.fixture(scope="module")
def rendered(outside: Path, fresh_venv: Venv) -> dict[str, Rendered]:
    """Every kind rendered once, and all installed into the fresh environment by one pip command."""
    projects = {k.kind: render(outside / "projects", plugin_name=k.plugin_name, kind=k.kind) for k in KINDS}
    fresh_venv.install(*projects.values(), cwd=outside)
    return {k.kind: Rendered(k, projects[k.kind]) for k in KINDS}


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


def test_llmnet_plugins_lists_every_kind_with_what_it_registers(
    rendered: dict[str, Rendered], fresh_venv: Venv, outside: Path
) -> None:
    report = json.loads(fresh_venv.llmnet("plugins", "--json", cwd=outside))
    rows = {row["name"]: row for row in report["plugins"]}
    for kind in KINDS:
        row = rows.get(kind.plugin_name)
        assert row is not None, f"{kind.plugin_name} is not listed: {sorted(rows)}"
        assert row["version"] == "0.1.0"
        assert row["provides"] == kind.provides
    names = {k.plugin_name for k in KINDS}
    assert not [f for f in report["failed"] if f["name"] in names]


def test_each_package_is_installed_in_the_fresh_environment(
    rendered: dict[str, Rendered], fresh_venv: Venv, outside: Path
) -> None:
    code = "import importlib, sys; print(importlib.import_module(sys.argv[1]).__file__)"
    for kind in KINDS:
        where = Path(fresh_venv.run("-c", code, kind.package, cwd=outside).strip())
        assert where.is_relative_to(fresh_venv.site), where
    # the test extra's dependencies were found, not installed again
    assert "llmnet-testing" in fresh_venv.run("-m", "pip", "show", "llmnet-testing", cwd=outside).lower()


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_the_rendered_project_passes_its_own_tests(
    rendered: dict[str, Rendered], fresh_venv: Venv, kind: Kind
) -> None:
    project = rendered[kind.kind].project
    # -P: the package is imported from where pip installed it, not from the project folder; the
    # project's own pyproject.toml is pytest's configuration (asyncio_mode for its async tests)
    output = fresh_venv.run("-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=project)
    assert re.search(r"\b\d+ passed\b", output), output
    assert not re.search(r"\b(failed|error|skipped)\b", output.splitlines()[-1]), output


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_the_readme_composition_is_valid(
    rendered: dict[str, Rendered], fresh_venv: Venv, outside: Path, kind: Kind
) -> None:
    readme = (rendered[kind.kind].project / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", readme, re.S)
    path = outside / f"{kind.kind}-readme.json"
    path.write_text(block, encoding="utf-8")
    assert f"{path}: ok" in fresh_venv.llmnet("validate", path, cwd=outside)  # exit code 0: no error
    if kind.kind == "backend":  # the README says what it answers
        answer = fresh_venv.llmnet("run", path, "hello there", cwd=outside)
        assert answer == "echo: hello there\n"


def test_a_misspelt_option_of_the_rendered_backend_fails_validate(
    rendered: dict[str, Rendered], fresh_venv: Venv, outside: Path
) -> None:
    composition = {
        "models": {"tiny": {"backend": "tmpl-backend-echo", "prefx": "hi: "}},
        "architecture": [
            {"name": "chat", "layer": 0, "model": "tiny", "output-to": ["out"]},
            {"name": "out", "adapter": "output", "layer": 1},
        ],
    }
    path = outside / "typo.json"
    path.write_text(json.dumps(composition), encoding="utf-8")
    done = subprocess.run(
        [fresh_venv.python, "-m", "llmnet_core", "validate", path],
        cwd=outside,
        env=fresh_venv.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2
    assert 'models.tiny.prefx: unknown field (did you mean "prefix"?)' in done.stderr


def test_the_rendered_code_is_ruff_clean(rendered: dict[str, Rendered]) -> None:
    for plugin in rendered.values():
        # each project's own [tool.ruff] settings (the rules a plugin author will run)
        run([BIN / "ruff", "check", "--no-cache", "."], cwd=plugin.project)
        run([BIN / "ruff", "format", "--check", "--no-cache", "."], cwd=plugin.project)


# -- a plugin written from docs/plugins.md alone --------------------------------------------------------

WALKTHROUGH = re.compile(
    r"^### \d\. `plugins/llmnet-questions/(?P<path>[^`]+)`\n+```\w+\n(?P<text>.*?)^```", re.S | re.M
)


def test_the_walkthrough_plugin_of_the_docs_installs_and_passes_its_tests(
    fresh_venv: Venv, outside: Path
) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    files = {m["path"]: m["text"] for m in WALKTHROUGH.finditer(docs)}
    assert set(files) == {"pyproject.toml", "llmnet_questions/__init__.py", "tests/test_questions.py"}
    project = outside / "walkthrough" / "llmnet-questions"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    fresh_venv.install(project, cwd=outside / "walkthrough")
    listed = json.loads(fresh_venv.llmnet("plugins", "--json", cwd=outside))["plugins"]
    assert {"conditions": ["has_code()", "is_question()"], "variables": ["IS_QUESTION"]} in [
        p["provides"] for p in listed if p["name"] == "llmnet-questions"
    ]
    output = fresh_venv.run("-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=project)
    assert re.search(r"\b\d+ passed\b", output), output
    assert not re.search(r"\b(failed|error|skipped|warnings?)\b", output.splitlines()[-1]), output
