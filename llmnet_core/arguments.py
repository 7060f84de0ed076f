"""Command-line arguments that commands share: the global `--debug` (before or after a command's name),
the composition file (a missing one is an error that says which files are near), and `--set PATH=VALUE`
changes to it (plugins' commands offer the same option through `override_option`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import UsageError

COMPOSITION_SUFFIXES = (".json", ".jsonc", ".json5")
#: at most this many entries of a folder are compared with a missing file's name
_SCAN_LIMIT = 2000


def looks_like_a_file(arg: str) -> bool:
    """Whether a command-line word names a file rather than being text: no spaces, and a path separator
    or a `.json`-like suffix (`.jsonc`, `.json5`, and misspellings such as `.jsn`)."""
    if not arg or any(c.isspace() for c in arg):
        return False
    if "/" in arg or (os.altsep and os.altsep in arg) or os.sep in arg:
        return True
    suffix = Path(arg).suffix.lower()
    if suffix in COMPOSITION_SUFFIXES:
        return True
    bare = [s[1:] for s in COMPOSITION_SUFFIXES]
    return len(suffix) > 2 and bool(_close_matches(suffix[1:], bare, n=1, cutoff=0.75))


def find_composition(path: str) -> str:
    """`path` when something is there; otherwise a UsageError that names it and the files near it."""
    if Path(path).exists():
        return path
    raise UsageError(f"{path}: no such file", hint=_nearby_hint(Path(path)))


def _nearby_hint(path: Path) -> str:
    folder = path.parent
    if not folder.is_dir():
        return _missing_folder_hint(folder, path.name)
    close = _close(path.name, folder, want_dirs=False)
    if close:
        return f"did you mean {_either([str(path.with_name(c)) for c in close])}?"
    others = sorted(n for n in _names(folder, want_dirs=False) if n.endswith(COMPOSITION_SUFFIXES))
    if others:
        shown = ", ".join(str(path.with_name(n)) for n in others[:5])
        return f"composition files there: {shown}{', …' if len(others) > 5 else ''}"
    return "check the path of the composition file"


def _missing_folder_hint(folder: Path, name: str) -> str:
    """`there is no folder confs; did you mean conf/chat.json?` (the file in a folder of a close name,
    else that folder)."""
    missing = f"there is no folder {folder}"
    closest = _close(folder.name, folder.parent, want_dirs=True) if folder.parent.is_dir() else []
    if not closest:
        return missing
    files = [str(folder.with_name(c) / name) for c in closest if (folder.with_name(c) / name).exists()]
    return (
        f"{missing}; did you mean {_either(files or [str(folder.with_name(c)) + os.sep for c in closest])}?"
    )


def _close(name: str, folder: Path, *, want_dirs: bool) -> list[str]:
    names = _names(folder, want_dirs=want_dirs)
    found = _close_matches(name, names, n=3, cutoff=0.7)
    # a composition file is the likelier meaning when several names are as close
    return sorted(found, key=lambda n: not n.endswith(COMPOSITION_SUFFIXES))


def _names(folder: Path, *, want_dirs: bool) -> list[str]:
    names = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= _SCAN_LIMIT:
                    break
                if entry.is_dir() == want_dirs:
                    names.append(entry.name)
    except OSError:
        return []
    return names


def _either(names: list[str]) -> str:
    quoted = [f'"{n}"' if " " in n else n for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def override_option(*flags: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The `--set PATH=VALUE` option (also `-o` unless other `flags` are given), repeatable, as the
    parameter `overrides`: pass it to `load_composition(..., overrides=overrides)`."""
    return click.option(
        *(flags or ("-o", "--set")),
        "overrides",
        multiple=True,
        metavar="PATH=VALUE",
        help=(
            "Change the composition for this command: models.m.parameters.temperature=0.2, "
            "architecture[1].if='$WORD_COUNT > 3'. VALUE is JSON when it parses, else text. Repeatable."
        ),
    )


# -- global options ---------------------------------------------------------------------------------


def _debug_option(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`--debug` given after a command's name: as if given before it."""
    if value:
        ctx.find_root().ensure_object(dict)["debug"] = True
        configure_logging(debug=True)


def accept_global_options(command: click.Command) -> None:
    """Let `--debug` follow a command's name as well as precede it (`llmnet run --debug ...`), for every
    command, plugins' commands and the commands of their groups included."""
    if not any("--debug" in p.opts for p in command.params):
        command.params.append(
            click.Option(
                ["--debug"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_debug_option,
                help="Show tracebacks and debug logs (also accepted before the command name).",
            )
        )
    for sub in getattr(command, "commands", {}).values():
        accept_global_options(sub)


def configure_logging(*, debug: bool) -> None:
    """Log lines on stderr: `warning: ...` (coloured on a terminal), or with --debug every level as
    `logger: ...`. They quote what models answered: secrets are masked in them."""
    import logging

    from .output import LogHandler
    from .redact import SecretFilter

    handler = LogHandler(logging.DEBUG if debug else logging.WARNING, debug=debug)
    handler.addFilter(SecretFilter())
    logging.lastResort = handler  # used wherever no handler of the program's own takes a record
    if debug:
        logging.getLogger().setLevel(logging.DEBUG)
    for other in logging.getLogger().handlers:
        if not any(isinstance(f, SecretFilter) for f in other.filters):
            other.addFilter(SecretFilter())


def _close_matches(word: str, choices: list[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    import difflib  # on use only: `llmnet --help` need not pay for it

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)
