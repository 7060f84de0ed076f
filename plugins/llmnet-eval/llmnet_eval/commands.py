"""The `llmnet eval` and `llmnet tune` click commands: options and help; their work is imported on use."""

from __future__ import annotations

import json
import sys

import click

from llmnet_core import env_file_option, load_env_files, override_option

COMPOSITION = click.argument("composition", type=click.Path(dir_okay=False))
DATA = click.argument("data", metavar="DATA.jsonl", type=click.Path(dir_okay=False, allow_dash=False))


def strategy_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """`--router a,b,c` as a tuple of names, duplicates dropped."""
    if value is None:
        return ()
    names = [n.strip() for n in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"{value!r} is not a comma-separated list of strategies")
    return tuple(dict.fromkeys(names))


@click.command("eval")
@COMPOSITION
@DATA
@click.option("--full", is_flag=True, help="Run the handlers too (default: routing decisions only).")
@click.option(
    "--router",
    "strategies",
    metavar="A,B,...",
    callback=strategy_list,
    help="Compare these routing strategies side by side (each sets the strategy of every node that routes).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a report for people; json: every figure for programs.",
)
@click.option(
    "--min-accuracy",
    type=click.FloatRange(0, 1),
    metavar="RATIO",
    help="Exit with 1 when the accuracy (of any strategy compared) is below RATIO (0-1).",
)
@click.option(
    "--misroutes",
    type=click.IntRange(min=0),
    metavar="N",
    default=20,
    show_default=True,
    help="Misrouted requests listed per strategy in the text report.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    metavar="N",
    default=1,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set a variable for every request."
)
@override_option()
@env_file_option
def eval_command(
    composition: str,
    data: str,
    full: bool,
    strategies: tuple[str, ...],
    fmt: str,
    min_accuracy: float | None,
    misroutes: int,
    concurrency: int,
    variables: tuple[str, ...],
    env_files: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Measure the routing of COMPOSITION on labelled requests.

    Each line of DATA.jsonl is {"text": "...", "label": "NODE"} ("messages": [...] for a conversation,
    "label": [...] for several acceptable nodes). A request is right when a label is on its route.
    Prints accuracy, a confusion matrix, per-handler precision and recall, decision latency, each routing
    node's decisions and the misrouted requests.
    """
    from llmnet_core import PipelineError, parse_vars

    from .evaluate import EvalRequest, evaluate
    from .report import render

    load_env_files(env_files)
    request = EvalRequest(
        composition, data, strategies, full, concurrency, parse_vars(variables), min_accuracy, overrides
    )
    report = evaluate(request)
    for warning in report["warnings"]:
        click.echo(f"{composition}: warning {warning}", err=True)
    runs = report["runs"]
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    elif all(run["error"] for run in runs):
        first = runs[0]["failed"][0]
        raise PipelineError(runs[0]["error"], hint=first.get("hint"))
    else:
        click.echo(render(report, misroutes))
    if all(run["error"] for run in runs) or report["passed"] is False:
        sys.exit(1)


@click.command("tune")
@COMPOSITION
@DATA
@click.option(
    "--examples",
    "k",
    type=click.IntRange(min=1),
    metavar="K",
    default=8,
    show_default=True,
    help="Examples to choose per handler.",
)
@click.option("--fallback", metavar="NODE", help="Fit min-score: below it the router sends requests to NODE.")
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=5,
    show_default=True,
    metavar="N",
    help="Cross-validation folds.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, metavar="N", help="Seed of the folds' shuffle."
)
@click.option("--write", is_flag=True, help="Write the result into COMPOSITION (after showing the diff).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    metavar="NEW_FILE",
    help="Write the tuned composition to NEW_FILE instead (a file that does not exist yet).",
)
@override_option("--set")
@env_file_option
def tune_command(
    composition: str,
    data: str,
    k: int,
    fallback: str | None,
    folds: int,
    seed: int,
    write: bool,
    output: str | None,
    env_files: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Learn semantic routers' examples (and threshold) from labelled requests.

    For every node of COMPOSITION that routes with the semantic strategy, chooses up to --examples
    requests of DATA.jsonl per handler, and with --fallback fits router-options.min-score. Reports
    cross-validated accuracy before and after and shows the change as a diff. Nothing is written
    without --write (in place, atomically, comments kept) or --output NEW_FILE.
    """
    from .tune import TuneRequest, tune

    if write and output:
        raise click.UsageError("give --write (in place) or --output NEW_FILE, not both")
    if overrides and (write or output):
        raise click.UsageError(
            f"--set changes the composition for this run only, and {'--write' if write else '--output'} "
            "would write a file without them; put the changes in the file first, or drop --set"
        )
    load_env_files(env_files)
    tune(TuneRequest(composition, data, k, fallback, folds, seed, write, output, overrides))
