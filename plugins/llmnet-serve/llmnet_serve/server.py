"""Starting the server: load the composition, bind the socket, run uvicorn (one process or N workers).

Everything that can fail before the first request (a bad composition, a missing secret, a port in use)
fails here, in the `llmnet` process, as one line and a non-zero exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import click

from llmnet_core import LLMNetError, Pipeline, UsageError, deploy_note

from .app import configure_logging, create_app, load_pipeline
from .metrics import shared_between_workers
from .settings import ServeSettings, to_environ

APP_FACTORY = "llmnet_serve.app:app_from_env"
BACKLOG = 2048


def run_server(settings: ServeSettings) -> None:
    """Serve until SIGINT/SIGTERM, then let requests in flight finish (bounded by --graceful-timeout)."""
    configure_logging(settings.log_level)
    pipeline = load_pipeline(settings)
    for problem in pipeline.composition.warnings:
        click.echo(f"{settings.composition}: warning {problem}", err=True)
    if (note := deploy_note(pipeline.composition, pipeline.registries)) is not None:
        click.echo(f"note: {note}", err=True)
    sock = bind(settings.host, settings.port)
    if settings.api_key is None and not _is_loopback(sock.getsockname()[0]):
        click.echo(
            f"llmnet serve: warning: {settings.host} accepts other machines and no --api-key is set", err=True
        )
    app = create_app(settings, pipeline)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    workers = settings.workers
    banner = (
        f"llmnet serve: http://{shown}:{port}/v1 · model {app.state.model_id!r} · "
        f"{workers} worker{'s' if workers != 1 else ''} · Ctrl+C stops"
    )
    if workers == 1:
        _serve_here(settings, app, pipeline, sock, banner)
    else:
        _serve_workers(settings, pipeline, sock, banner)
    click.echo("llmnet serve: stopped", err=True)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; an address in use or not available is a one-line UsageError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        hint = "check --host: it must be an address of this machine (127.0.0.1, 0.0.0.0, ::1, ...)"
        if not isinstance(exc, socket.gaierror) and exc.errno == errno.EADDRINUSE:
            hint = "choose another --port, or stop the program that uses it"
        raise UsageError(f"cannot listen on {host}:{port}: {reason}", hint=hint) from None
    sock.set_inheritable(True)
    return sock


def _is_loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _uvicorn_config(settings: ServeSettings, app: Any, **extra: Any) -> Any:
    """uvicorn's settings; its httptools protocol bounds request heads (`--read-timeout`, MAX_HEAD)."""
    import uvicorn

    from .protocol import BoundedHeadProtocol

    return uvicorn.Config(
        app,
        loop="auto",
        http=functools.partial(BoundedHeadProtocol, read_timeout=settings.read_timeout),
        ws="none",
        lifespan="on",
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_timeout,
        server_header=False,
        proxy_headers=False,
        **extra,
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        return None
    return uvloop.new_event_loop


def _serve_here(
    settings: ServeSettings, app: Any, pipeline: Pipeline, sock: socket.socket, banner: str
) -> None:
    """One process: the pipeline starts (secrets load) in the server's own event loop, before serving."""
    server = _server_class()(_uvicorn_config(settings, app))

    app.state.on_ready = lambda: click.echo(banner, err=True)

    async def main() -> None:
        await pipeline.start()
        await server.serve(sockets=[sock])

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    except SystemExit:
        if app.state.startup_error is not None:
            raise app.state.startup_error from None
        raise
    finally:
        sock.close()


def _serve_workers(settings: ServeSettings, pipeline: Pipeline, sock: socket.socket, banner: str) -> None:
    """N processes sharing the socket; each builds the app from the settings left in the environment."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    try:
        asyncio.run(_check_start(pipeline))
    except BaseException:
        sock.close()
        raise
    click.echo(banner, err=True)
    to_environ(settings)
    config = _uvicorn_config(settings, APP_FACTORY, factory=True, workers=settings.workers)
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        with shared_between_workers() if settings.metrics else contextlib.nullcontext():
            supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise LLMNetError("a worker process could not start (its message is above)")


async def _check_start(pipeline: Pipeline) -> None:
    """Load the secrets once here, so that a missing one stops `llmnet serve` before workers start."""
    try:
        await pipeline.start()
    finally:
        await pipeline.aclose()


def _server_class() -> type:
    """uvicorn's Server, minus re-raising the stop signal afterwards: a graceful stop exits with 0. SIGHUP
    (the terminal closed) stops it gracefully too, unless it is ignored (nohup): without a handler it
    would end the process at once and leave the programs of shell hooks in flight running."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = [signal.SIGINT, signal.SIGTERM]
            hangup = getattr(signal, "SIGHUP", None)
            if hangup is not None and signal.getsignal(hangup) is signal.SIG_DFL:
                handled.append(hangup)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
