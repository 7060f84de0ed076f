"""The `llmnet` command line: run, validate, schema, plugins (plugins may add more)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

import click

from . import install
from .arguments import (
    accept_global_options,
    configure_logging,
    find_composition,
    looks_like_a_file,
    override_option,
)
from .process import OutputClosed, interrupted, stdout_closed


def _fail(exc: BaseException, debug: bool) -> NoReturn:
    """Print an error as one or two lines (a traceback only with --debug) and exit with its code."""
    from .errors import LLMNetError
    from .output import paint

    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, LLMNetError):
        click.echo(f"{paint('error:', 'error')} {_indent(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"{paint('error:', 'error')} internal error: {type(exc).__name__}: {exc}", err=True)
    if not debug:
        click.echo("       run again with --debug to see where it happened", err=True)
    sys.exit(1)


def _indent(text: str) -> str:
    return text.replace("\n", "\n       ")


class LLMNetGroup(click.Group):
    """A command group that lets plugins add commands the first time commands are listed or looked up,
    and turns every error into a short message instead of a traceback."""

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            from .plugins import get_host

            get_host().add_commands(self)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        accept_global_options(cmd)
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._add_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            interrupted()
        except (OutputClosed, BrokenPipeError):
            stdout_closed()  # stdout's reader went away (a backend's broken connection is a BackendError)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            _fail(exc, bool(ctx.obj and ctx.obj.get("debug")))


@click.group(cls=LLMNetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmnet-core", prog_name="llmnet")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs (also after the command name).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """llmnet: pipelines of small language models, routed layer after layer.

    One JSON composition file describes the models, the layered nodes that route
    between them, the hooks and the secrets.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    configure_logging(debug=debug)


env_file_option = click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Load NAME=value lines from FILE into the environment first (its values win). Repeatable.",
)


def load_env_files(paths: tuple[str, ...]) -> None:
    """Load each `--env-file` in order, before the command reads the composition or the plugins."""
    from .envfile import load_env_file

    for path in paths:
        load_env_file(path, where=f"--env-file {path}")


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--var NAME=VALUE` options as a mapping; a malformed one is a usage error naming the option."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--var")
        out[name] = value
    return out


def _split_args(args: tuple[str, ...]) -> tuple[str | None, str | None]:
    """`run [COMPOSITION] [PROMPT...]`: a first argument naming a file is the composition; otherwise
    every argument is the prompt, for the bundled default pipeline. A first argument that looks like a
    file (`chat.jsn`, `configs/chat.json`) and is not there is an error, not the start of a prompt."""
    if not args:
        return None, None
    first, rest = args[0], args[1:]
    if Path(first).is_file() or looks_like_a_file(first):
        return find_composition(first), " ".join(rest) if rest else None
    return None, " ".join(args)


def _server_option(name: str, instead: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A hidden `run` option the earlier llmnet's `run` took (it started a server): a usage error that
    says what to type instead."""

    def refuse(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return
        file = (ctx.params.get("args") or ("COMPOSITION",))[0]
        shown = "" if isinstance(value, bool) else f" {value}"
        raise click.UsageError(
            f"llmnet run answers one prompt and takes no {name}; {instead.format(file=file, value=shown)}"
        )

    is_flag = name == "--dry-run"
    return click.option(name, is_flag=is_flag, default=None, hidden=True, expose_value=False, callback=refuse)


def _no_log(value: bool) -> None:
    """`--no-log`: tell every request log (an observer a plugin installs) to leave this process's requests
    out, through the environment variable they all read."""
    if value:
        os.environ["LLMNET_NO_LOG"] = "1"


_SERVE_INSTEAD = (
    "to serve the pipeline as an API (what the earlier llmnet's `run FILE` did): llmnet serve {file}"
)


@cli.command()
@click.argument("args", nargs=-1, metavar="[COMPOSITION] [PROMPT]", is_eager=True)
@_server_option("--port", _SERVE_INSTEAD + " --port{value}")
@_server_option("--bind-addr", _SERVE_INSTEAD + " --host{value}")
@_server_option("--dry-run", "to check the file without running it: llmnet validate {file}")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the answer; json: answer, usage and trace for programs.",
)
@click.option("--trace", "show_trace", is_flag=True, help="Print a per-hop table on stderr.")
@click.option("--max-hops", type=click.IntRange(min=1), help="Stop a request after this many nodes.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set a request variable.")
@click.option("--stream/--no-stream", default=True, help="Print the answer as it is generated (text).")
@click.option(
    "--no-log",
    is_flag=True,
    expose_value=False,
    callback=lambda ctx, param, value: _no_log(value),
    help="Keep this request out of the request log (as LLMNET_NO_LOG=1 does).",
)
@override_option()
@env_file_option
@click.pass_context
def run(
    ctx: click.Context,
    args: tuple[str, ...],
    fmt: str,
    show_trace: bool,
    max_hops: int | None,
    variables: tuple[str, ...],
    stream: bool,
    env_files: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Run PROMPT (or standard input) through the pipeline in COMPOSITION.

    Without COMPOSITION, the bundled default pipeline runs offline on the embedded model
    (`llmnet init` writes it to a file you can edit).
    """
    load_env_files(env_files)
    composition, prompt = _composition_and_prompt(args)
    custom = parse_vars(variables)
    from .output import OutputError, paint_trace, write

    try:
        pipeline = _load_pipeline(composition, overrides, max_hops=max_hops, variables=custom)
    except Exception as exc:
        if fmt == "json":
            write(json.dumps({"error": _error_dict(exc, str)}, ensure_ascii=False, indent=2))
        raise
    _warn(pipeline.composition.warnings, composition)
    _note_deploy(pipeline)
    result, error, answer = _execute(pipeline, prompt, stream=stream and fmt == "text")
    if isinstance(error, OutputClosed):
        raise error
    redact = pipeline.redactor
    trace = result.trace if result else getattr(error, "trace", None)
    if isinstance(error, OutputError):
        pass  # stdout cannot take the rest of the answer either
    elif fmt == "json":
        payload: dict[str, Any] = result.to_dict(redact) if result else {}
        if error is not None:
            payload = {"error": _error_dict(error, redact), "trace": trace.to_dict(redact) if trace else None}
        write(json.dumps(payload, ensure_ascii=False, indent=2))
    elif answer is not None and answer.started:
        answer.finish(complete=result is not None)
    elif result is not None:
        write(redact(result.output))
    if show_trace and trace is not None:
        click.echo(paint_trace(trace.render(redact)), err=True)
    if error is not None:
        _fail(error, bool(ctx.obj.get("debug")))


def _load_pipeline(path: str, overrides: tuple[str, ...], **kwargs: Any) -> Any:
    """The pipeline of the composition at `path`, changed by `--set` overrides before it is checked."""
    from .composition import load_composition
    from .engine import Pipeline
    from .plugins import get_host

    host = get_host()
    composition = load_composition(path, registries=host.registries, overrides=overrides)
    return Pipeline(composition, host=host, **kwargs)


def _composition_and_prompt(args: tuple[str, ...]) -> tuple[str, str]:
    """The composition file (the bundled default when none is named) and the prompt (standard input
    when none is given); an empty prompt is a usage error."""
    composition, prompt = _split_args(args)
    named = composition
    if composition is None:
        from .composition import default_composition_path

        composition = str(default_composition_path())
    if prompt is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give a prompt, or pipe one on standard input" + _serve_hint(named))
        prompt = sys.stdin.read().strip()
    if not prompt:
        raise click.UsageError("the prompt is empty" + _serve_hint(named))
    return composition, prompt


def _serve_hint(composition: str | None) -> str:
    """For `llmnet run FILE` with no prompt: the earlier llmnet's `run FILE` started a server."""
    if composition is None:
        return ""
    return (
        f'; write llmnet run {composition} "your question", or, to serve the pipeline as an API '
        f"(what the earlier llmnet's `run FILE` did), llmnet serve {composition}"
    )


def _execute(pipeline: Any, prompt: str, *, stream: bool) -> tuple[Any, BaseException | None, Any]:
    """Run one request, streaming the answer to stdout when asked (masked), with progress on stderr;
    returns the result (None on failure), the error, and the answer's stream (None when not streamed)."""
    from .output import AnswerStream
    from .progress import StderrReporter, add_listener

    answer = AnswerStream(pipeline.redactor) if stream else None
    reporter = StderrReporter()
    stop_reporting = add_listener(reporter)
    atexit.register(reporter.close)  # a run stopped at once (`leave`) clears the spinner too
    try:
        return _run_stoppable(_run_once(pipeline, prompt, answer)), None, answer
    except Exception as exc:  # noqa: BLE001 - reported by the caller, after the trace
        return None, exc, answer
    finally:
        stop_reporting()
        reporter.close()
        atexit.unregister(reporter.close)
        from .events import flush_observers

        flush_observers()  # traces and metrics reach their collectors before the process exits


async def _run_once(pipeline: Any, prompt: str, on_token: Callable[[str], None] | None) -> Any:
    async with pipeline:
        return await pipeline.run(prompt, on_token=on_token, source="run")


#: signals that stop a run in order, like Ctrl-C; the exit code is 128 + the signal's number
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def _run_stoppable(main: Coroutine[Any, Any, Any]) -> Any:
    """`asyncio.run(main)`, where SIGTERM and SIGHUP stop the run as Ctrl-C does: the run is cancelled,
    so every transport cleans up (a shell hook's process group is killed) and the pipeline closes; then
    the process exits with 143 or 129, as a shell reports a process the signal ended. A signal that is
    ignored (nohup) stays ignored."""
    import asyncio
    import signal

    received: list[signal.Signals] = []

    async def guarded() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        installed = []
        for sig in (getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)):
            if signal.getsignal(sig) is signal.SIG_DFL:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no such support
                    loop.add_signal_handler(sig, lambda sig=sig: (received.append(sig), task.cancel()))
                    installed.append(sig)
        try:
            return await main
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        result = asyncio.run(guarded())
    except BaseException:
        if not received:
            raise
        result = None  # the cancelled run's error: the signal is the reason it ended
    if received:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            click.echo(f"stopped by {received[0].name}", err=True)
        from .process import leave

        leave(128 + received[0])  # at once, even while a model loads in a worker thread
    return result


def _error_dict(exc: BaseException, redact: Callable[[str], str]) -> dict[str, Any]:
    from .errors import LLMNetError

    if isinstance(exc, LLMNetError):
        data = {"type": type(exc).__name__, "message": redact(exc.message), "hint": redact(exc.hint or "")}
        problems = getattr(exc, "problems", None)
        if problems:
            data["problems"] = [_problem_dict(p) for p in problems]
        return data
    return {"type": "InternalError", "message": redact(f"{type(exc).__name__}: {exc}"), "hint": ""}


def _warn(problems: list[Any], source: str) -> None:
    from .output import paint

    for problem in problems:
        click.echo(f"{source}: {paint('warning', 'warning')} {problem}", err=True)


def _note_deploy(pipeline: Any) -> None:
    """A dim `note:` line on stderr when the composition's `deploy` sections are ignored by this run."""
    from .composition.deploy import deploy_note
    from .output import paint

    note = deploy_note(pipeline.composition, pipeline.registries)
    if note is not None:
        click.echo(paint(f"note: {note}", "dim"), err=True)


@cli.command()
@click.argument("composition", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when the file is valid.")
@click.option("--no-secrets", is_flag=True, help="Do not load the secret blocks (offline checks only).")
@override_option()
@env_file_option
def validate(
    composition: str,
    as_json: bool,
    quiet: bool,
    no_secrets: bool,
    env_files: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Check COMPOSITION and list every problem with its JSON path.

    Every secret block is loaded as a run would load it (no value is ever printed); --no-secrets skips that.
    """
    load_env_files(env_files)
    find_composition(composition)
    comp, problems, secrets_checked = _check_file(composition, overrides, load_secrets=not no_secrets)
    valid = comp is not None and not any(p.severity == "error" for p in problems)
    if as_json:
        report = {
            "file": composition,
            "valid": valid,
            "secrets_checked": secrets_checked,
            "problems": [_problem_dict(p) for p in problems],
        }
        click.echo(json.dumps(report, indent=2))
    elif not valid:
        count = sum(p.severity == "error" for p in problems) or 1
        click.echo(f"{composition}: {count} problem{'s' if count != 1 else ''}", err=True)
        for p in sorted(problems, key=lambda p: p.severity != "error"):
            click.echo(f"  {_severity(p.severity, sys.stderr)} {p}", err=True)
    elif not quiet:
        warnings = [p for p in problems if p.severity == "warning"]
        click.echo(_summary(composition, comp, warnings, secrets_checked))
        for p in warnings:
            click.echo(f"  {_severity(p.severity, sys.stdout)} {p}")
    if not valid:
        sys.exit(2)


def _severity(severity: str, stream: Any) -> str:
    """`error  ` or `warning`, padded, in its colour where `stream` takes colours."""
    from .output import paint

    return paint(f"{severity:<7}", "error" if severity == "error" else "warning", stream)


def _check_file(path: str, overrides: tuple[str, ...], *, load_secrets: bool) -> tuple[Any, list[Any], bool]:
    """The composition (None when invalid), every problem, and whether the secret blocks were loaded
    (only when the rest is valid: then they are loaded as a run would)."""
    import asyncio

    from .composition import read_composition, validate_composition
    from .errors import CompositionError
    from .overrides import apply_overrides
    from .plugins import get_host
    from .secret_blocks import secret_problems

    registries = get_host().registries
    try:
        data, problems = read_composition(path)
        data = apply_overrides(data, overrides)
        base = Path(path).resolve().parent
        comp, found = validate_composition(
            data, source=path, base_dir=base, registries=registries, check_env=load_secrets
        )
        problems = problems + found
    except CompositionError as exc:
        return None, exc.problems, False
    if comp is None or not load_secrets or not comp.file.secrets:
        return comp, problems, False
    return comp, problems + asyncio.run(secret_problems(comp, registries)), True


def _problem_dict(p: Any) -> dict[str, Any]:
    return {"severity": p.severity, "path": p.path, "message": p.message, "hint": p.hint}


def _summary(source: str, comp: Any, warnings: list[Any], secrets_checked: bool) -> str:
    """`FILE: ok · entry NODE · N handlers · N models[ · N secret blocks loaded][ · N warnings]`."""

    def count(n: int, noun: str) -> str:
        return f"{n} {noun}{'s' if n != 1 else ''}"

    handlers = [n for n in comp.file.architecture if n.adapter != "output" and n.name != comp.entry]
    parts = [f"{source}: ok", f"entry {comp.entry}", count(len(handlers), "handler")]
    parts.append(count(len(comp.file.models), "model"))
    if comp.file.secrets:
        blocks = count(len(comp.file.secrets), "secret block")
        parts.append(f"{blocks} loaded" if secrets_checked else f"{blocks} not loaded (--no-secrets)")
    if warnings:
        parts.append(count(len(warnings), "warning"))
    return " · ".join(parts)


@cli.command()
@click.argument("path", default="llmnet.jsonc", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write the default pipeline to PATH (default llmnet.jsonc; - prints it) as a starting point."""
    from .composition import default_composition_path
    from .errors import UsageError

    text = default_composition_path().read_text(encoding="utf-8")
    if path == "-":
        click.echo(text, nl=False)
        return
    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{path} already exists", hint="choose another name, or add --force to overwrite it")
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {path}: {exc.strerror}", hint="check that the folder exists and is writable"
        ) from None
    click.echo(f'wrote {path}: edit it, then `llmnet run {path} "your question"`', err=True)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of composition files (for editor completion)."""
    from .composition import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins, what each registers, and any that failed to load."""
    from .plugins import get_host

    host = get_host()
    regs = host.registries
    commands = host.commands()
    rows = []
    for name, info in sorted(host.plugins.items()):
        provides = regs.provided_by(name)
        if commands.get(name):
            provides["commands"] = commands[name]
        rows.append(
            {
                "name": name,
                "version": info.version or "",
                "provides": provides,
                **regs.shadowing(name),
            }
        )
    failures = [{"name": f.name, "version": f.version, "error": f.error} for f in host.failures]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "failed": failures}, indent=2))
        return
    width = max([len(r["name"]) for r in rows + failures] + [10])
    for row in rows:
        provides = " · ".join(f"{kind}: {', '.join(names)}" for kind, names in row["provides"].items())
        click.echo(f"{row['name']:<{width}}  {row['version']:<7}  {provides or '(registers nothing)'}")
        for relation in ("overrides", "overridden"):
            for what in row.get(relation, []):
                click.echo(f"{'':<{width}}  {'':<7}  {relation}: {what}")
    if failures:
        click.echo("failed to load:")
        for f in failures:
            hint = f"(set LLMNET_BLOCK_PLUGINS={f['name']} to hide)"
            click.echo(f"{f['name']:<{width}}  {f['version'] or '':<7}  {f['error']}  {hint}")
    if os.environ.get("LLMNET_LOAD_PLUGINS") is not None:
        click.echo(f"(LLMNET_LOAD_PLUGINS={os.environ['LLMNET_LOAD_PLUGINS']} limits what is loaded)")


cli.add_command(install.install)
cli.add_command(install.uninstall)


def main() -> None:
    """Console-script entry point."""
    cli(obj={})
