"""The `llmnet serve` click command: options and help; the server itself is imported when it runs."""

from __future__ import annotations

import os

import click

from llmnet_core import env_file_option, load_env_files, override_option, parse_vars

from .defaults import DEFAULT_MAX_BODY, DEFAULT_READ_TIMEOUT
from .deployers import ServeCommand, chosen_deployer


@click.command(cls=ServeCommand)
@click.argument("composition", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="TCP port (0: a free port, printed at start).",
)
@click.option(
    "--api-key",
    envvar="LLMNET_API_KEY",
    show_envvar=True,
    help="Require `Authorization: Bearer KEY` on /v1/* and /status.",
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Chat requests in flight (per worker) beyond which new ones get HTTP 429.",
)
@click.option(
    "--workers", type=click.IntRange(min=1, max=256), default=1, show_default=True, help="Server processes."
)
@click.option(
    "--max-body",
    type=click.IntRange(min=64),
    default=DEFAULT_MAX_BODY,
    show_default=True,
    metavar="BYTES",
    help="Largest request body accepted (HTTP 413 beyond).",
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=DEFAULT_READ_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Time a client has to send a request's headers, and then its body (HTTP 408 beyond).",
)
@click.option("--model-id", help="The model id clients see (default: the composition's name or file stem).")
@click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set a variable for every request."
)
@click.option(
    "--allow-client-variables",
    is_flag=True,
    help='Accept request variables from clients ("llmnet": {"variables": {...}}); --var values win.',
)
@click.option(
    "--graceful-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to let requests in flight finish on shutdown.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
)
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.option(
    "--log-requests",
    is_flag=True,
    expose_value=False,
    callback=lambda ctx, param, value: value and os.environ.update(LLMNET_LOG_SERVE="1"),
    help="Record each request in the request log, where one is installed (as LLMNET_LOG_SERVE=1 does).",
)
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    help="Prometheus metrics at GET /metrics (summed over all --workers).",
)
@override_option()
@env_file_option
def serve(
    composition: str,
    variables: tuple[str, ...],
    env_files: tuple[str, ...],
    overrides: tuple[str, ...],
    **options: object,
) -> None:
    """Serve the pipeline in COMPOSITION as an OpenAI-compatible API.

    POST /v1/chat/completions (plain or streamed), GET /v1/models, /health, /status and /metrics.
    Point any OpenAI client at http://HOST:PORT/v1; the model name it sends is not checked.
    """
    from .server import run_server
    from .settings import make_settings

    load_env_files(env_files)
    settings = make_settings(
        composition=composition, variables=parse_vars(variables), overrides=overrides, **options
    )
    deployer = chosen_deployer()
    if deployer is not None:
        serve_on, deployer_options = deployer
        serve_on.serve(settings, **deployer_options)
        return
    run_server(settings)
