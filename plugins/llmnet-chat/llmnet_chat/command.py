"""The `llmnet chat` click command: options and help, and the loop that reads turns and answers them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from llmnet_core import env_file_option, load_env_files, override_option, parse_vars

if TYPE_CHECKING:
    from llmnet_core import Pipeline


@click.command()
@click.argument("composition", required=False, type=click.Path(dir_okay=False))
@click.option("-s", "--system", metavar="TEXT", help="A system prompt sent before the conversation.")
@click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set a variable for every turn."
)
@click.option("--max-hops", type=click.IntRange(min=1), help="Stop a request after this many nodes.")
@click.option("--no-route", is_flag=True, help="Do not print which node answered after each answer.")
@click.option(
    "--no-log", is_flag=True, help="Keep this conversation out of the request log (LLMNET_NO_LOG=1)."
)
@override_option()
@env_file_option
def chat(
    composition: str | None,
    system: str | None,
    variables: tuple[str, ...],
    max_hops: int | None,
    no_route: bool,
    no_log: bool,
    env_files: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Talk with the pipeline in COMPOSITION (default: the bundled one), turn after turn.

    Each message is sent with the conversation so far; the answer streams in, followed by a
    dim line saying which node answered and why. /trace shows the last request's route hop by
    hop, /reset forgets the conversation, /exit or Ctrl-D leaves, Ctrl-C stops an answer.
    End a line with \\ to go on to the next, or put \"\"\" alone on a line before and after
    several lines. With standard input from a pipe or a file, each line is a turn.
    """
    load_env_files(env_files)
    if no_log:
        os.environ["LLMNET_NO_LOG"] = "1"
    from llmnet_core import Pipeline, default_composition_path, deploy_note, get_host, load_composition

    from .display import note

    path = composition or str(default_composition_path())
    host = get_host()
    loaded = load_composition(path, registries=host.registries, overrides=overrides)
    pipeline = Pipeline(loaded, host=host, max_hops=max_hops, variables=parse_vars(variables))
    for problem in pipeline.composition.warnings:
        click.echo(f"{path}: warning {problem}", err=True)
    if (ignored := deploy_note(loaded, host.registries)) is not None:
        note(f"note: {ignored}")
    interactive = sys.stdin is not None and sys.stdin.isatty()
    failures = converse(
        pipeline, composition, system=system, show_route=not no_route, interactive=interactive
    )
    if failures and not interactive:
        sys.exit(1)


def converse(
    pipeline: Pipeline, composition: str | None, *, system: str | None, show_route: bool, interactive: bool
) -> int:
    """Read turns until the input ends or /exit, answering each; returns how many turns failed."""
    import asyncio

    from llmnet_core import flush_observers, show_activity

    from .display import OutputFailed, note
    from .session import ChatSession
    from .turns import TurnReader, as_message, is_command

    session = ChatSession(pipeline, system=system, show_route=show_route, spinner=interactive)
    reader = TurnReader(sys.stdin, interactive=interactive)
    if interactive:
        name = Path(composition).name if composition else "the default pipeline"
        note(f"llmnet chat · {name} · /help for commands · Ctrl-D to leave")
    with asyncio.Runner() as runner:
        ended_cleanly = False
        try:
            with show_activity(enabled=interactive):
                runner.run(session.pipeline.start())  # secrets loaded, models prepared before the first turn
            while (text := reader.read()) is not None:
                if is_command(text):
                    if not session.command(text):
                        break
                    continue
                runner.run(session.turn(as_message(text)))
            ended_cleanly = True
        except OutputFailed as exc:
            raise _output_error(exc.__cause__) from None
        finally:
            runner.run(session.pipeline.aclose(wait=ended_cleanly))
            flush_observers()
    return session.failures


def _output_error(cause: BaseException | None) -> Exception:
    """How llmnet reports an answer that stdout cannot take: a reader that went away ends quietly
    (exit 141, as `llmnet run ... | head` does); anything else is a one-line error."""
    import errno

    from llmnet_core import LLMNetError

    if isinstance(cause, OSError) and cause.errno == errno.EPIPE:
        return BrokenPipeError()
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
    return LLMNetError(f"cannot write the answer: {reason}")
