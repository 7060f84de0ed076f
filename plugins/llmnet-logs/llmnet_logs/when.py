"""Moments as people write them on the command line (`--since 2h`, `--before 2025-05-01`) and as the
log shows them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, *, now: float | None = None) -> float:
    """Unix time of `text`: a span back from now (`30m`, `12h`, `7d`, `2w`, `90s`) or a local date or
    date and time in ISO form (`2025-05-01`, `2025-05-01T09:30`, `2025-05-01 09:30:00`)."""
    match = _AGO.match(text)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a span back from now (30m, 12h, 7d, 2w) nor a date (2025-05-01)"
        ) from None
    return moment.timestamp()  # a moment without a zone is local time


def local_time(seconds: float) -> str:
    """`2025-05-01 09:30:12` in local time, for people."""
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def iso_utc(seconds: float) -> str:
    """`2025-05-01T07:30:12.345Z`, for programs."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
