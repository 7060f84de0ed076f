"""`llmnet install` and `llmnet uninstall`: pip, run by the Python that runs llmnet, so that a plugin lands
in the environment llmnet loads plugins from; afterwards each names the plugins it added, updated or
removed (what the `llmnet` entry point group holds before and after)."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click

#: the distribution llmnet itself is (its own commands run from it: never uninstalled by llmnet)
CORE = "llmnet-core"
#: a different project owns this name on the package index
NOT_OURS = "llmnet"
GROUP = "llmnet"


@dataclass(frozen=True)
class Change:
    """A plugin distribution that pip added, updated or removed."""

    what: str  #: "added", "updated" or "removed"
    name: str
    version: str
    before: str | None = None  #: the version before an update


def canonical(name: str) -> str:
    """A distribution name as the package index compares names (PEP 503): `LLMNet_Core` → `llmnet-core`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(text: str) -> str | None:
    """The distribution a requirement names (`llmnet-acme>=0.2` → `llmnet-acme`); None for a path, a
    file or a URL, which name no distribution before pip reads them."""
    if "/" in text or os.sep in text or text.endswith((".whl", ".tar.gz", ".zip")) or Path(text).exists():
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    return canonical(match.group(1)) if match else None


def plugin_distributions() -> dict[str, tuple[str, str]]:
    """Every installed distribution with a `llmnet` entry point: canonical name → (name, version)."""
    import importlib
    from importlib.metadata import entry_points

    importlib.invalidate_caches()  # pip has just changed what is on sys.path
    found = {}
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            found[canonical(dist.metadata["Name"])] = (dist.metadata["Name"], dist.version)
    return found


def changes(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> list[Change]:
    """What differs between two `plugin_distributions()`, sorted by name."""
    found = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            found.append(Change("added", *after[key]))
        elif key not in after:
            found.append(Change("removed", *before[key]))
        elif before[key][1] != after[key][1]:
            found.append(Change("updated", *after[key], before=before[key][1]))
    return found


def run_pip(args: list[str]) -> None:
    """`python -m pip ARGS` with this interpreter; its output goes to stderr (stdout is llmnet's report).
    A pip that is missing or fails is an LLMNetError."""
    import importlib.util
    import subprocess

    from .errors import LLMNetError

    if importlib.util.find_spec("pip") is None:
        raise LLMNetError(
            f"pip is not installed in the environment llmnet runs from ({sys.prefix})",
            hint=f"add it with `{sys.executable} -m ensurepip`, then try again",
        )
    try:
        out: int | None = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is no file (a program that embeds llmnet's CLI)
        out = None
    done = subprocess.run([sys.executable, "-m", "pip", *args], stdout=out, check=False)
    code = done.returncode
    if code != 0:
        raise LLMNetError(f"pip {args[0]} failed (exit status {code}); its messages are above")


def provided(names: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """What each named plugin distribution registers, and why any of them failed to load, as
    `llmnet plugins --json` reports them in a fresh process (this one imported its plugins before pip
    changed them)."""
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "LLMNET_BLOCK_PLUGINS"}
    env["LLMNET_LOAD_PLUGINS"] = ",".join(names)
    done = subprocess.run(
        [sys.executable, "-m", "llmnet_core", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {}, {canonical(name): f"`llmnet plugins` could not list it ({reason})" for name in names}
    provides: dict[str, list[str]] = {}
    for row in report.get("plugins", []):
        parts = [f"{kind}: {', '.join(items)}" for kind, items in row["provides"].items()]
        provides.setdefault(canonical(row["name"].split(":")[0]), []).extend(parts)
    failed = {canonical(f["name"].split(":")[0]): f["error"] for f in report.get("failed", [])}
    return {name: " · ".join(parts) for name, parts in provides.items()}, failed


def report(found: list[Change], *, describe: bool) -> bool:
    """Print one line per change (with what each added or updated plugin registers when `describe`);
    False when one of them cannot be loaded."""
    provides, failed = provided([c.name for c in found if c.what != "removed"]) if describe else ({}, {})
    width = max(len(c.name) for c in found)
    for change in found:
        key = canonical(change.name)
        version = f"{change.before} → {change.version}" if change.before else change.version
        detail = "" if change.what == "removed" else provides.get(key, "(registers nothing)")
        if key in failed:
            detail = f"failed to load: {failed[key]}"
        click.echo(f"{change.what:<7}  {change.name:<{width}}  {version}  {detail}".rstrip())
    return not failed


@click.command()
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option(
    "-e",
    "--editable",
    "editable",
    multiple=True,
    metavar="PATH",
    help="Install the plugin in folder PATH in development mode.",
)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade the named packages to their newest versions.")
@click.option("--force-reinstall", is_flag=True, help="Reinstall the packages even if they are up to date.")
@click.option("--no-cache-dir", is_flag=True, help="Do not use pip's cache.")
@click.option("--pre", is_flag=True, help="Include pre-release and development versions.")
def install(names: tuple[str, ...], editable: tuple[str, ...], **flags: bool) -> None:
    """Install plugins into the environment llmnet runs from, and name what they add.

    NAME is a package on the index (llmnet-NAME), a wheel file or a folder; -e PATH installs the
    folder PATH in development mode. pip (this environment's) does the work, and its own settings
    apply (pip.conf, PIP_INDEX_URL, PIP_NO_INDEX, ...). Afterwards each plugin added or updated is
    listed with what it registers, as `llmnet plugins` lists it.
    """
    from .errors import LLMNetError

    check_install_arguments(names, editable)
    options = [f"--{name.replace('_', '-')}" for name, on in flags.items() if on]
    before = plugin_distributions()
    run_pip(["install", *options, *names, *(arg for path in editable for arg in ("-e", path))])
    found = changes(before, plugin_distributions())
    if not found:
        click.echo("no llmnet plugin was added or updated (llmnet plugins lists what is installed)", err=True)
    elif not report(found, describe=True):
        raise LLMNetError(
            "a plugin that was installed cannot be loaded (see above)", hint="llmnet plugins shows it too"
        )


def check_install_arguments(names: tuple[str, ...], editable: tuple[str, ...]) -> None:
    """Usage errors before pip runs: nothing named, the index's unrelated `llmnet`, a missing folder."""
    from .errors import UsageError

    if not names and not editable:
        raise UsageError(
            "name a plugin to install", hint="llmnet install llmnet-NAME, or -e PATH for a folder"
        )
    if any(requirement_name(n) == NOT_OURS for n in names):
        raise UsageError(
            f'"{NOT_OURS}" on the package index is another project; llmnet itself is {CORE}',
            hint=f"install plugins by their names (llmnet-...); update llmnet with: llmnet install -U {CORE}",
        )
    for path in editable:
        if not Path(path).is_dir():
            raise UsageError(
                f"-e {path}: no such folder", hint="give the folder that holds the plugin's pyproject.toml"
            )


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall(names: tuple[str, ...], yes: bool) -> None:
    """Uninstall plugins from the environment llmnet runs from, and name what they took away.

    llmnet-core (llmnet itself) is never uninstalled this way.
    """
    from .errors import UsageError

    if any(canonical(n) == CORE for n in names):
        raise UsageError(
            f"{CORE} is llmnet itself and is not uninstalled by llmnet",
            hint=f"to remove llmnet, run: {sys.executable} -m pip uninstall {CORE}",
        )
    before = plugin_distributions()
    if not yes:
        click.confirm(f"Uninstall {', '.join(names)} from {sys.prefix}?", default=True, abort=True, err=True)
    run_pip(["uninstall", "--yes", *names])
    found = changes(before, plugin_distributions())
    if found:
        report(found, describe=False)
    else:
        click.echo("no llmnet plugin was removed (llmnet plugins lists what is installed)", err=True)
