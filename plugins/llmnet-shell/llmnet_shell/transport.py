"""The `shell` transport: runs a program for each hook call, without a shell, in its own process group.

`command` is started directly with `args` as its argument list; a substituted `$VARIABLE` is always part
of exactly one argument and is never split or interpreted. The hook's data goes to stdin as JSON; stdout,
without its trailing line breaks, is the reply, read by the core's `decode_reply`. On timeout, on
cancellation and when the pipeline closes with the program still running, the whole process group is
killed, so no child is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import Mapping
from typing import Any, ClassVar

from llmnet_core import (
    FunctionSpec,
    HookCall,
    Problem,
    Resources,
    Transport,
    TransportError,
    TransportTimeoutError,
    decode_reply,
    excerpt,
    option_problems,
    parse_options,
    substitute,
)

from .code_check import code_problems
from .options import HINT, ShellOptions

#: variables a program gets from llmnet's own environment without asking (plus every LC_* one)
INHERITED_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "COMSPEC",
    "PATHEXT",
    "WINDIR",
)
EXCERPT_CHARS = 200
STDERR_KEPT = 8192
READ_CHUNK = 65536


def minimal_environment(pass_env: list[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a program inherits: a fixed short list, every LC_*, and the names in `pass-env`."""
    environ = os.environ if environ is None else environ
    names = {*INHERITED_ENV, *pass_env, *(name for name in environ if name.startswith("LC_"))}
    env = {name: environ[name] for name in names if name in environ}
    env.setdefault("PATH", os.defpath)
    return env


def parse_stdout(out: bytes) -> Any:
    """Stdout without its trailing line breaks (programs end their output with one), read by the rule
    every transport shares (`decode_reply`)."""
    return decode_reply(out.decode("utf-8", errors="replace").rstrip("\r\n"))


def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process and everything it started (they share its process group)."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    else:  # pragma: no cover - platforms without process groups
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _excerpt(data: bytes) -> str:
    """The end of stderr (where tracebacks and messages put the cause), on one line, secrets masked."""
    text = data.decode("utf-8", errors="replace")
    return excerpt(text, EXCERPT_CHARS, keep="end") or "(nothing on stderr)"


class ShellTransport(Transport):
    """Runs `command` with `args` (no shell); the hook's data arrives on stdin, the reply on stdout."""

    description: ClassVar[str] = "local program run without a shell (argument list, stdin/stdout)"

    def __init__(self, spec: FunctionSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        self.options = parse_options(
            ShellOptions, spec.options, f"functions.{spec.name}", hint=HINT, unknown="warn"
        )
        self.cwd = self._directory(self.options.cwd)
        base = minimal_environment(self.options.pass_env)
        base.update({k: v for k, v in self.options.env.items() if "$" not in v})
        self._base_env = base
        self._dynamic_env = {k: v for k, v in self.options.env.items() if "$" in v}
        self.program = self._resolve(self.options.command, base["PATH"])
        self._running: set[asyncio.subprocess.Process] = set()

    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        """The problems of the function's fields (the same checks as when it is first used), and a
        warning when it hands a request's text to an interpreter as code (`sh -c "... $INPUT"`)."""
        place = f"functions.{spec.name}"
        options, problems = option_problems(ShellOptions, spec.options, place, hint=HINT, unknown="warn")
        return problems if options is None else code_problems(options, place)

    # -- construction --------------------------------------------------------------------------

    def _directory(self, cwd: str | None) -> str | None:
        """The working directory's absolute path; a relative one starts at the composition's folder."""
        if cwd is None:
            return None
        path = os.path.abspath(os.path.join(self.spec.base_dir, os.path.expanduser(cwd)))
        if not os.path.isdir(path):
            raise TransportError(
                f"functions.{self.spec.name}.cwd: {path} is not a directory",
                hint="create it, or correct the path",
            )
        return path

    def _resolve(self, command: str, search_path: str) -> str:
        """The program's absolute path: a path as written (relative to `cwd`, else to the composition's
        folder), else found on PATH."""
        name = self.spec.name
        if os.sep in command or (os.altsep and os.altsep in command):
            path = os.path.expanduser(command)
            path = os.path.abspath(os.path.join(self.cwd or self.spec.base_dir, path))
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
            raise TransportError(
                f"functions.{name}.command: {path} is not an executable file",
                hint="make it executable (chmod +x), or run it with its interpreter: "
                '"command": "python3", "args": ["script.py"]',
            )
        found = shutil.which(command, path=search_path)
        if found is None:
            raise TransportError(
                f'functions.{name}.command: program "{command}" not found on PATH',
                hint="install it, write its full path, or add its folder to PATH",
            )
        return os.path.abspath(found)

    # -- one call ------------------------------------------------------------------------------

    async def call(self, call: HookCall) -> Any:
        """Run the program once for `call`; return its stdout (JSON data, text, or None)."""
        variables = call.variables
        argv = [substitute(arg, variables) for arg in self.options.args]
        env = self._base_env
        if self._dynamic_env:
            env = {**env, **{k: substitute(v, variables) for k, v in self._dynamic_env.items()}}
        payload = self._stdin(call)
        command = self.options.command
        try:
            process = await asyncio.create_subprocess_exec(
                self.program,
                *argv,
                stdin=asyncio.subprocess.PIPE if payload is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise self._error(
                f"could not start {command} ({exc.strerror or type(exc).__name__})",
                f"check functions.{self.spec.name}.command and cwd",
            ) from None
        except ValueError:  # a NUL character that arrived through a variable
            raise self._error(
                "an argument or environment value contains a NUL character after substitution",
                "programs cannot receive NUL characters; pass such data on stdin",
            ) from None
        finished = False
        self._running.add(process)
        try:
            async with asyncio.timeout(self.spec.timeout):
                out, err, overflow = await self._exchange(process, payload)
                code = await process.wait()
            finished = True
        except TimeoutError:
            raise self._error(
                f"{command} did not finish within {self.spec.timeout:g} s (its process group was killed)",
                "raise the function's timeout if it needs longer",
                kind=TransportTimeoutError,
            ) from None
        finally:
            self._running.discard(process)
            if not finished:  # timeout, or the engine cancelled the call: leave nothing running
                kill_group(process)
                with contextlib.suppress(TimeoutError, ProcessLookupError):
                    await asyncio.wait_for(process.wait(), 5)
        if overflow:
            raise self._error(
                f"{command} printed more than {self.options.max_output} bytes on stdout and was stopped",
                f"raise functions.{self.spec.name}.max-output, or print less",
            )
        if code < 0:
            reason = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
            raise self._error(f"{command} was killed by {reason}: {_excerpt(err)}")
        if code != 0:
            raise self._error(
                f"{command} exited with status {code}: {_excerpt(err)}",
                "the program reported a failure; its stderr is quoted above",
            )
        return parse_stdout(out)

    async def aclose(self) -> None:
        """Kill the process groups of calls still running: the pipeline closes, nothing may outlive it."""
        for process in self._running:
            kill_group(process)

    def _stdin(self, call: HookCall) -> bytes | None:
        mode = self.options.stdin
        if mode == "none":
            return None
        if mode == "text":
            data = call.data if isinstance(call.data, str) else json.dumps(call.data, ensure_ascii=False)
            return data.encode()
        return (json.dumps(call.envelope(), ensure_ascii=False) + "\n").encode()

    async def _exchange(
        self, process: asyncio.subprocess.Process, payload: bytes | None
    ) -> tuple[bytes, bytes, bool]:
        """Write stdin while reading stdout (bounded by max-output) and the tail of stderr."""
        limit = self.options.max_output
        overflow = False

        async def feed() -> None:
            if process.stdin is None:
                return
            try:
                if payload and not process.stdin.is_closing():
                    process.stdin.write(payload)
                    await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the program exited or closed stdin without reading it all: its choice
            except RuntimeError:
                # uvloop's way of saying the same: the pipe closed under the write
                if not process.stdin.is_closing():
                    raise
            finally:
                process.stdin.close()

        async def read_out() -> bytes:
            nonlocal overflow
            assert process.stdout is not None
            chunks: list[bytes] = []
            size = 0
            while chunk := await process.stdout.read(READ_CHUNK):
                if overflow:
                    continue
                size += len(chunk)
                if size > limit:
                    overflow = True
                    chunks.clear()
                    kill_group(process)
                    continue
                chunks.append(chunk)
            return b"".join(chunks)

        async def read_err() -> bytes:
            assert process.stderr is not None
            tail = bytearray()
            while chunk := await process.stderr.read(READ_CHUNK):
                tail += chunk
                del tail[:-STDERR_KEPT]
            return bytes(tail)

        _, out, err = await asyncio.gather(feed(), read_out(), read_err())
        return out, err, overflow

    def _error(
        self, message: str, hint: str | None = None, *, kind: type[TransportError] = TransportError
    ) -> TransportError:
        return kind(f'function "{self.spec.name}": {message}', hint=hint)
