"""Deployers in `llmnet serve`: each installed deployer that can serve (it has a `serve` method) is offered
as `--NAME`, with the options it adds (`cli_options()`); `serve(settings, **options)` then runs the
server instead of this process. A deployer the catalogue knows but that is not installed is a clear
error naming the plugin to install, not click's "no such option"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from llmnet_core import get_host, provider_of

#: where `ServeCommand.invoke` leaves the chosen deployer for the command's callback
CHOSEN = "llmnet_serve.deployer"


def _serving_deployers() -> Iterator[tuple[str, Any]]:
    for name, reg in get_host().registries.deployers.entries.items():
        if callable(getattr(reg.value, "serve", None)):
            yield name, reg.value


class ServeCommand(click.Command):
    """`llmnet serve`, with the flag and the options of every installed deployer that can serve."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: by the flag's parameter name: the deployer and the names of the options it adds
        self._owned: dict[str, tuple[Any, list[str]]] | None = None
        self._extra: list[click.Parameter] = []

    def _deployer_params(self) -> list[click.Parameter]:
        """The deployers' parameters, built the first time they are asked for (the plugins load then)."""
        if self._owned is None:
            self._owned = {}
            for name, deployer in _serving_deployers():
                about = getattr(deployer, "description", "") or name
                flag = click.Option([f"--{name}"], is_flag=True, help=f"Serve on {about}.")
                options = list(getattr(deployer, "cli_options", list)())
                self._owned[flag.name or name] = (deployer, [o.name for o in options if o.name])
                self._extra += [flag, *options]
        return self._extra

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        at = next((i for i, p in enumerate(params) if p.name in ("debug", "help")), len(params))
        return [*params[:at], *self._deployer_params(), *params[at:]]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            name = exc.option_name.lstrip("-")
            dist = provider_of("deployer", name)
            if dist is None:
                raise
            failed = {f.name.split(":")[0]: f.error for f in get_host().failures}
            why = f"is installed but failed to load: {failed[dist]}" if dist in failed else "is not installed"
            raise click.UsageError(
                f"{exc.option_name} serves on the deployer {name!r}, whose plugin {dist} {why}; "
                f"install it: pip install {dist}",
                ctx,
            ) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Take the deployers' values out of the command's parameters; the callback finds the chosen
        deployer (or None) and its options with `chosen_deployer()`."""
        self._deployer_params()
        chosen = []
        for flag, (deployer, names) in (self._owned or {}).items():
            on = bool(ctx.params.pop(flag, False))
            values = {name: ctx.params.pop(name, None) for name in names}
            given = [n for n, v in values.items() if v is not None]
            if given and not on:
                option = "--" + given[0].replace("_", "-")
                raise click.UsageError(f"{option} applies only with --{flag.replace('_', '-')}", ctx)
            if on:
                chosen.append((deployer, values))
        if len(chosen) > 1:
            raise click.UsageError("serve on one deployer at a time", ctx)
        ctx.meta[CHOSEN] = chosen[0] if chosen else None
        return super().invoke(ctx)


def chosen_deployer() -> tuple[Any, dict[str, Any]] | None:
    """The deployer `llmnet serve` was asked to serve on (`--NAME`) and its options, or None."""
    return click.get_current_context().meta.get(CHOSEN)
