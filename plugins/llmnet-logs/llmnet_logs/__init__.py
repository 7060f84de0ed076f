"""llmnet plugin: the request log. Every `llmnet run` and `llmnet chat` request (and, when asked, every
request `llmnet serve` answers) is written to a SQLite file, secrets masked; `llmnet logs` lists, searches,
shows and exports them.

Nothing is imported or opened at load time: the observer imports its parts on the first request, the
command on first use.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_observers(register: Any) -> None:
    """Add the request log's observer, unless `LLMNET_NO_LOG` turns logging off."""
    from .settings import logging_off

    if not logging_off():
        from .observer import RequestLog

        register("request-log", RequestLog(), description="logs run and chat requests (llmnet logs)")


@hookimpl(trylast=True)
def llmnet_register_commands(cli: Any) -> None:
    """Add `llmnet logs` (trylast, so that another plugin may provide its own)."""
    from .commands import logs

    cli.add_command(logs)
