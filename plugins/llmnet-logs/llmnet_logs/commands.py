"""The `llmnet logs` click commands: options and help; the reading and writing is imported on use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .store import Query


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from .when import parse_when

    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def filter_options(limit: int | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that choose logged requests, shared by the list and `export`."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "-n",
                "--limit",
                type=click.IntRange(min=1),
                default=limit,
                show_default=limit is not None,
                metavar="N",
                help="The N newest requests" + ("." if limit else " (default: all)."),
            ),
            click.option("--node", metavar="NODE", help="Requests whose route went through NODE."),
            click.option(
                "-q",
                "--query",
                "text",
                metavar="TEXT",
                help="Requests whose prompt or answer has these words.",
            ),
            click.option(
                "--since",
                metavar="WHEN",
                callback=_since,
                help="Requests since WHEN: 30m, 12h, 7d, 2w, or a date (2025-05-01, 2025-05-01T09:30).",
            ),
            click.option(
                "--composition",
                metavar="NAME",
                help="Requests of this composition (name, file name or path).",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _query(
    limit: int | None, node: str | None, text: str | None, since: float | None, composition: str | None
) -> Query:
    from .store import Query

    return Query(limit=limit, node=node, text=text, since=since, composition=composition)


@click.group(invoke_without_command=True)
@filter_options(limit=20)
@click.option("--failed", is_flag=True, help="Only requests that failed.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (oldest first) for programs.")
@click.pass_context
def logs(
    ctx: click.Context,
    limit: int,
    node: str | None,
    text: str | None,
    since: float | None,
    composition: str | None,
    failed: bool,
    as_json: bool,
) -> None:
    """List logged requests: the newest 20, oldest first.

    Every `llmnet run` and `llmnet chat` request is logged (prompt, answer, route, trace,
    timings, tokens; secrets masked) to a SQLite file: `llmnet logs path` prints where.
    LLMNET_NO_LOG=1 or --no-log turn it off; `llmnet serve --log-requests` logs a server's.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from .view import list_requests

    query = replace(_query(limit, node, text, since, composition), failed=True if failed else None)
    list_requests(query, as_json=as_json)


@logs.command()
@click.argument("request", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print every field, the trace included, as JSON.")
def show(request: str, as_json: bool) -> None:
    """Show one logged request: its messages, answer, route and trace table.

    ID is the number `llmnet logs` lists, `last` for the newest, or a request id.
    """
    from .view import show_request

    show_request(request, as_json=as_json)


@logs.command()
@filter_options(limit=None)
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE.jsonl",
    help="Where to write the labelled requests (- for standard output).",
)
def export(
    limit: int | None,
    node: str | None,
    text: str | None,
    since: float | None,
    composition: str | None,
    output: str,
) -> None:
    """Export answered requests as labelled JSON Lines for `llmnet eval` and `llmnet tune`.

    Each line is {"text": ...} (or {"messages": [...]} for a conversation) with "label": the
    node that answered. Correct the labels that are wrong, then:
    llmnet eval COMPOSITION FILE.jsonl
    """
    from .export import export_requests

    export_requests(_query(limit, node, text, since, composition), output)


@logs.command()
def path() -> None:
    """Print the path of the request log (LLMNET_LOGS_PATH moves it)."""
    from .view import print_path

    print_path()


@logs.command()
@click.option(
    "--before", metavar="WHEN", callback=_since, help="Only requests older than WHEN (7d, 2025-05-01)."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def clear(before: float | None, yes: bool) -> None:
    """Delete logged requests (all of them, or those older than --before) from the file."""
    from .view import clear_requests

    clear_requests(before, yes=yes)
