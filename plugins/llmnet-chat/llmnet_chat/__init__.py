"""llmnet plugin: `llmnet chat [COMPOSITION]`, a conversation with a pipeline in the terminal (or from a
pipe): history kept, answers streamed, the route of each answer shown in one dim line.

Only the click command is imported when llmnet lists its commands; the rest when a chat starts.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_commands(cli: Any) -> None:
    """Add `llmnet chat` (trylast, so that another plugin may provide its own)."""
    from .command import chat

    cli.add_command(chat)
