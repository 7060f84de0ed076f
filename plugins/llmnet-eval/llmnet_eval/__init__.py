"""llmnet plugin: `llmnet eval` (routing accuracy on labelled requests) and `llmnet tune` (a semantic
router's examples and threshold learned from them).

Only the click commands are imported when llmnet lists its commands; everything they use is imported
when one runs, so `llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_commands(cli: Any) -> None:
    """Add `llmnet eval` and `llmnet tune` (trylast, so that another plugin may provide its own)."""
    from .commands import eval_command, tune_command

    cli.add_command(eval_command)
    cli.add_command(tune_command)
