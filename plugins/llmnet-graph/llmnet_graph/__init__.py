"""llmnet plugin: `llmnet graph`, a composition's pipeline as a picture (Mermaid text, Graphviz DOT, or an
SVG/PNG drawn by Graphviz's `dot`).

Only the click command is imported when llmnet lists its commands; the writers are imported when it runs,
so `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_commands(cli: Any) -> None:
    """Add `llmnet graph` (trylast, so that another plugin may provide its own)."""
    from .command import graph_command

    cli.add_command(graph_command)
