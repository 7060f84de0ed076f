"""Showing and writing a changed composition: a unified diff, and writes that never leave a half-written
file, never replace a file that changed meanwhile, and never overwrite a file the user did not name."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_text(path: str) -> str:
    """The file's text exactly as stored (line endings kept)."""
    return Path(path).read_bytes().decode("utf-8")


def unified_diff(old: str, new: str, path: str, new_path: str | None = None) -> str:
    """`diff -u` of two versions of a file ("" when they are the same)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=path,
        tofile=new_path or path,
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _temporary(folder: Path, name: str, text: str, mode: int | None) -> Path:
    """A new file next to the target holding `text`, flushed to disk."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tuning")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temp, mode)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Path(temp)


def replace_file(path: str, text: str, expected: str, check: Callable[[Path], None]) -> None:
    """Replace `path` with `text` atomically (a temporary file, then os.replace), keeping its permissions;
    `check(temporary)` may refuse the new text by raising. Refuses when the file no longer holds
    `expected` (someone changed it meanwhile)."""
    from llmnet_core import UsageError

    target = Path(path).resolve()  # through a symbolic link, to the file it names
    if read_text(str(target)) != expected:
        raise UsageError(f"{path} changed while it was being tuned; nothing written", hint="run tune again")
    temp = _temporary(target.parent, target.name, text, stat.S_IMODE(target.stat().st_mode))
    try:
        check(temp)
        if read_text(str(target)) != expected:
            raise UsageError(f"{path} changed while it was being tuned; nothing written")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _create_directly(target: Path, text: str) -> None:
    from llmnet_core import UsageError

    try:
        with open(target, "xb") as out:
            out.write(text.encode("utf-8"))
    except FileExistsError:
        raise UsageError(f"{target} already exists") from None


def create_file(path: str, text: str, check: Callable[[Path], None], like: str | None = None) -> None:
    """Write `text` to the new file `path` (with the permissions of the file `like`); an existing file is
    never replaced."""
    from llmnet_core import UsageError

    target = Path(path)
    if target.exists() or target.is_symlink():
        raise UsageError(
            f"{path} already exists",
            hint="give --output a new file's name, or --write to change the file in place",
        )
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {path}: no folder {target.parent}")
    mode = stat.S_IMODE(Path(like).stat().st_mode) if like else None
    temp = _temporary(target.parent, target.name, text, mode)
    try:
        check(temp)
        try:
            os.link(temp, target)  # fails, rather than replaces, when the name was taken meanwhile
        except FileExistsError:
            raise UsageError(f"{path} already exists") from None
        except OSError:  # a file system without hard links
            _create_directly(target, text)
    finally:
        temp.unlink(missing_ok=True)
