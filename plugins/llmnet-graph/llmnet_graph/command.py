"""The `llmnet graph` click command: options and help; the composition is loaded and drawn when it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from llmnet_core import override_option

FORMATS = ("mermaid", "dot", "svg", "png")
#: the format a `-o FILE` suffix asks for, when --format is not given
SUFFIXES = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
}


@click.command("graph")
@click.argument("composition", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="mermaid (the default), dot, or svg/png drawn by Graphviz's dot. Default: from -o FILE's suffix.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Write the picture to FILE (pipeline.svg, pipeline.mmd, ...) instead of standard output.",
)
@override_option("--set")
def graph_command(
    composition: str | None, fmt: str | None, output: str | None, overrides: tuple[str, ...]
) -> None:
    """Draw the pipeline of COMPOSITION (without it, the bundled default pipeline).

    Mermaid text by default, which GitHub and most documentation sites draw in a ```mermaid block;
    Graphviz DOT with --format dot; an SVG or PNG with -o pipeline.svg where Graphviz's dot is installed.
    Layers are ranks, each edge shows the condition its target must meet, hooks and fallbacks are marked,
    and nodes that no path from the entry reaches are grey.
    """
    from llmnet_core import UsageError

    from .draw import picture

    fmt = fmt or SUFFIXES.get(Path(output or "").suffix.lower(), "mermaid")
    target = None if output in (None, "-") else Path(output)
    if fmt == "png" and target is None and sys.stdout.isatty():
        raise UsageError("a PNG is not text for a terminal", hint="write it to a file: -o pipeline.png")
    data, source = picture(composition, fmt, overrides, target)
    if target is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            click.echo(data, nl=False)
        return
    if isinstance(data, str):
        try:
            target.write_text(data, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output} ({fmt}, {source})", err=True)
