"""llmnet plugin: `llmnet serve COMPOSITION`, the pipeline as an OpenAI-compatible HTTP server.

Only the click command is imported when llmnet lists its commands; Starlette, uvicorn and orjson are
imported when the server actually starts, so `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_commands(cli: Any) -> None:
    """Add `llmnet serve` (trylast, so that another plugin may provide its own)."""
    from .command import serve

    cli.add_command(serve)
