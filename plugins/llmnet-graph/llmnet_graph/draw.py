"""From a composition file to a picture: load it as every command does (`--set` changes included), work
out what to draw, and write it in the format asked for."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from llmnet_core import default_composition_path, find_composition, get_host, load_composition

from .dot import dot, draw
from .mermaid import mermaid
from .model import graph_of


def picture(
    composition: str | None, fmt: str, overrides: Iterable[str], target: Path | None
) -> tuple[str | bytes, str]:
    """The picture of `composition` (the default pipeline when None) as `fmt`, and what it is of.

    Text formats are returned; an SVG or PNG is drawn by Graphviz's `dot` into `target`, or returned as
    bytes when `target` is None.
    """
    path = find_composition(composition) if composition else str(default_composition_path())
    loaded = load_composition(path, registries=get_host().registries, overrides=overrides)
    for warning in loaded.warnings:
        click.echo(f"{path}: warning {warning}", err=True)
    graph = graph_of(loaded)
    shown = composition or "the default pipeline"
    if fmt == "mermaid":
        return mermaid(graph), shown
    text = dot(graph)
    if fmt == "dot":
        return text, shown
    return draw(text, fmt, target), shown
