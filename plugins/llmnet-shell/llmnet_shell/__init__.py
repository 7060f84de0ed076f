"""llmnet plugin: the `shell` hook transport, which runs a local program for each hook call.

The program is started directly (an argument list, never through a shell). The transport module,
and pydantic with it, is imported only when a `shell` function is first used.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_transports(register: Any) -> None:
    """Register `shell` (trylast, so a third-party plugin may provide its own)."""
    from .transport import ShellTransport

    register("shell", ShellTransport)
