"""The `llmnet` process: its own standard streams, and how it ends when it is stopped rather than
finished (Ctrl-C, or a reader that closed standard output). The exit codes are those a shell reports for
a process the signal ended (128 + its number), so scripts see llmnet end as they see any Unix tool end.

This module imports nothing heavy: the console script relies on it before anything else is loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

#: Ctrl-C (128 + SIGINT)
INTERRUPTED = 130
#: standard output's reader went away (128 + SIGPIPE), as `yes | head -1` ends `yes`
STDOUT_CLOSED = 141


class OutputClosed(Exception):
    """Standard output's reader went away: stop writing, and end quietly (`stdout_closed`)."""


def own_standard_streams() -> None:
    """Make `sys.stdout` and `sys.stderr` write through private copies of file descriptors 1 and 2.

    A native library may silence itself by pointing descriptors 1 and 2 at /dev/null for a while:
    llama-cpp-python does, from a worker thread, for the second or more that a model takes to load.
    Whatever llmnet printed meanwhile (a streamed answer, an error, `interrupted`) would be lost.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            stream.flush()
            fd = os.dup(stream.fileno())
        except (AttributeError, OSError, ValueError):
            continue  # no descriptor behind it (a test's capture, pythonw): nothing to protect
        copy = os.fdopen(fd, "w", encoding=stream.encoding, errors=stream.errors)
        copy.reconfigure(line_buffering=stream.line_buffering, write_through=stream.write_through)
        setattr(sys, name, copy)


def interrupted() -> NoReturn:
    """Say `interrupted` on stderr and exit with 130."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    leave(INTERRUPTED)


def stdout_closed() -> NoReturn:
    """End quietly with 141, as a Unix tool ends when its reader goes away (what Python's documentation
    recommends for a BrokenPipeError: point stdout at os.devnull, so that the flush at exit is quiet)."""
    discard_stdout()
    leave(STDOUT_CLOSED)


def discard_stdout() -> None:
    """Point standard output's file descriptor at os.devnull: what is still buffered for a reader that is
    gone, or for a full disk, is dropped instead of failing again when Python flushes it at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file descriptor (a test's capture): nothing is flushed to a real file at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def leave(code: int) -> NoReturn:
    """Exit with `code`, without waiting for worker threads that are still busy.

    A normal exit joins every worker thread first. A plugin's thread may be in native code that cannot
    be interrupted (llama.cpp reads a model's vocabulary for a second or more, with no way to abort it),
    and a stopped process must not wait for it. When such threads are alive, the exit handlers run and
    the standard streams are flushed as in a normal exit, then the process ends at once.
    """
    if not _busy_threads():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _busy_threads() -> bool:
    """Whether a thread that a normal exit would wait for is alive (besides this one)."""
    current = threading.current_thread()
    return any(t is not current and not t.daemon and t.is_alive() for t in threading.enumerate())
