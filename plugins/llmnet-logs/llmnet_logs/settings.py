"""Where the request log lives and what goes into it, from the environment (read at each use, so that
`--no-log` and a test's settings apply to the requests that follow)."""

from __future__ import annotations

import os
from pathlib import Path

from llmnet_core import data_dir

#: the log file to use instead of the default one in the data folder
PATH_ENV = "LLMNET_LOGS_PATH"
#: set (to anything but 0/false/no/off) to log nothing; `run --no-log` and `chat --no-log` set it
OFF_ENV = "LLMNET_NO_LOG"
#: set to log the requests `llmnet serve` answers too (`llmnet serve --log-requests` sets it)
SERVE_ENV = "LLMNET_LOG_SERVE"
#: who starts requests that are logged: one-shot runs and chats always, a server's only when asked
ALWAYS = frozenset({"run", "chat"})
FILE_NAME = "logs.db"


def logs_path() -> Path:
    """`$LLMNET_LOGS_PATH`, else `logs.db` in llmnet's data folder (`$XDG_DATA_HOME/llmnet`, else
    `~/.local/share/llmnet`)."""
    explicit = os.environ.get(PATH_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return data_dir() / FILE_NAME


def is_set(name: str) -> bool:
    """Whether the environment variable `name` is set to a value that means yes."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def logging_off() -> bool:
    """Whether nothing is logged at all (`LLMNET_NO_LOG`)."""
    return is_set(OFF_ENV)


def logs_source(source: object) -> bool:
    """Whether requests started by `source` ("run", "chat", "serve", "library") are logged."""
    wanted = source in ALWAYS or (source == "serve" and is_set(SERVE_ENV))
    return wanted and not logging_off()
