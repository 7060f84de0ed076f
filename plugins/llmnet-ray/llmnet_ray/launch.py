"""`llmnet serve --ray`: check the pipeline here, connect to Ray (or start a local one), deploy the
application, print where each deployment runs, serve until SIGINT/SIGTERM, then delete the application
(and stop the local Ray it started: no Ray process is left behind)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

import click

from llmnet_core import LLMNetError, Pipeline, UsageError, get_host

from .graph import Plan, application, plan
from .placement import deployment_status, details
from .replica import Elsewhere
from .settings import describe

#: seconds between two looks at the application while it serves (it may have been deleted meanwhile)
WATCH_INTERVAL = 1.0
#: seconds the shutdown waits for the cluster beyond --graceful-timeout
SHUTDOWN_MARGIN = 15.0


def serve_on_ray(settings: Any, address: str | None) -> None:
    """Serve the pipeline of `settings` (llmnet serve's `ServeSettings`) on Ray until stopped."""
    from llmnet_serve.app import configure_logging, load_pipeline
    from llmnet_serve.server import bind
    from llmnet_serve.state import model_id

    configure_logging(settings.log_level)
    pipeline = load_pipeline(settings)
    for problem in pipeline.composition.warnings:
        click.echo(f"{settings.composition}: warning {problem}", err=True)
    asyncio.run(_check_start(pipeline))  # a missing secret stops here, before anything is deployed
    the_plan = plan(pipeline.composition, model_id(settings, pipeline))
    sock = bind(settings.host, settings.port)  # the address must be free (port 0: a free one is chosen)
    host, port = sock.getsockname()[:2]
    sock.close()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a stop while deploying still cleans up
    started_here = False
    try:
        started_here = _connect(address, settings.log_level)
        _deploy(the_plan, settings, host, port)
        _print_placement(the_plan)
        shown = f"[{host}]" if ":" in host else host
        where = "a local Ray started here" if started_here else f"the Ray cluster at {address}"
        click.echo(
            f"llmnet serve: http://{shown}:{port}/v1 · model {the_plan.app!r} · on {where} · Ctrl+C stops",
            err=True,
        )
        with _stop_signals() as stop:
            _wait(stop, the_plan.app)
    finally:
        _shutdown(the_plan.app, started_here, settings.graceful_timeout)
        signal.signal(signal.SIGTERM, previous)
    click.echo("llmnet serve: stopped", err=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


async def _check_start(pipeline: Pipeline) -> None:
    """Load the secrets once here, without making any model's backend."""
    check = Pipeline(
        pipeline.composition, host=get_host(), backends=lambda node, spec, cls, res: Elsewhere(spec, res)
    )
    try:
        await check.start()
    finally:
        await check.aclose()


def _connect(address: str | None, log_level: str) -> bool:
    """Connect to the cluster at `address`, or start a local Ray; True when started here."""
    import ray

    quiet = _ray_log_level(log_level)
    _quiet_serve_logger(log_level)
    try:
        ray.init(
            address=address or "local",
            namespace="llmnet",
            include_dashboard=False if address is None else None,
            logging_level=quiet,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        hint = "check --ray-address (host:port of the head node, or auto)" if address else None
        raise LLMNetError(f"cannot start or reach {where}: {_first_line(exc)}", hint=hint) from None
    return address is None


def _deploy(the_plan: Plan, settings: Any, host: str, port: int) -> None:
    """Start Serve's HTTP proxy on host:port (unless Serve runs there already) and deploy the app."""
    from ray import serve

    level = str(settings.log_level).upper()
    serve.start(
        http_options={"host": host, "port": port},
        logging_config={"log_level": level, "enable_access_log": bool(settings.access_log)},
    )
    _quiet_serve_logger(settings.log_level)
    http = details().get("http_options") or {}
    if http.get("port") not in (None, port):
        raise UsageError(
            f"Ray Serve already runs on this cluster with its HTTP proxy on port {http.get('port')}",
            hint=f"give --port {http.get('port')} (one proxy serves every application of a cluster)",
        )
    app = application(the_plan, settings)
    click.echo(f"llmnet serve: deploying {len(the_plan.nodes)} node(s) to Ray Serve…", err=True)
    try:
        serve.run(app, name=the_plan.app, route_prefix="/", blocking=False)
        _quiet_serve_logger(settings.log_level)
    except Exception as exc:  # noqa: BLE001 - Ray's reasons come with a replica's traceback
        raise LLMNetError(
            f"the application could not be deployed: {_first_line(exc)}",
            hint="the replicas' logs say why (`ray logs`, or the output above)",
        ) from None


def _print_placement(the_plan: Plan) -> None:
    """One line per deployment: its node, how it scales, its replicas and the Ray nodes they run on."""
    infos = details().get("applications", {}).get(the_plan.app, {}).get("deployments", {})
    rows = [(n.node, n.deployment, describe(n.settings)) for n in the_plan.nodes]
    rows.append(("(ingress)", the_plan.ingress, "llmnet serve's app"))
    width = max(len(row[0]) for row in rows)
    for node, name, how in rows:
        state = deployment_status(infos.get(name))
        places = ", ".join(f"{m} x{c}" if c > 1 else m for m, c in state["machines"].items())
        line = f"  {node:<{width}}  deployment {name}, {how}: {state['replicas']} running on {places or '-'}"
        click.echo(line, err=True)


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP; the previous handlers come back afterwards, so a
    second Ctrl+C during the shutdown stops at once."""
    stop = threading.Event()
    handled = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
        handled.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(stop: threading.Event, app: str) -> None:
    """Serve until a stop signal, or until the application is gone from the cluster."""
    while not stop.wait(WATCH_INTERVAL):
        try:
            gone = app not in details().get("applications", {})
        except Exception:  # noqa: BLE001 - the controller may be busy: look again later
            gone = False
        if gone:
            raise LLMNetError(f"the application {app!r} was deleted from the Ray cluster")


def _shutdown(app: str, started_here: bool, graceful: float) -> None:
    """Delete the application (its replicas finish what they have in flight, for up to `graceful`
    seconds), then stop the local Ray when it was started here, or disconnect from the cluster. A
    cluster that does not answer is not waited for beyond that."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        return
    click.echo("llmnet serve: stopping…", err=True)

    def delete() -> None:
        with contextlib.suppress(Exception):
            serve.delete(app, _blocking=True)
            if started_here:
                serve.shutdown()

    worker = threading.Thread(target=delete, name="llmnet-ray-shutdown", daemon=True)
    worker.start()
    worker.join(graceful + SHUTDOWN_MARGIN)
    ray.shutdown()


def _ray_log_level(log_level: str) -> int:
    """Ray's own messages at llmnet's --log-level: at the default (warning), only its errors."""
    return {"critical": logging.CRITICAL, "info": logging.INFO, "debug": logging.DEBUG}.get(
        log_level, logging.ERROR
    )


def _quiet_serve_logger(log_level: str) -> None:
    """Ray Serve sets its driver-side logger to INFO each time it is called; put it back."""
    logging.getLogger("ray.serve").setLevel(_ray_log_level(log_level))


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__
