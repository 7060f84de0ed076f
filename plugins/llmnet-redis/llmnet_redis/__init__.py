"""llmnet plugin: the response cache backend `redis`, which keeps answers in a Redis (or Valkey) server so
that every llmnet process and replica that names the same server shares them.

Kept light on purpose: the `redis` client is imported only when a cache is first used, so that
`llmnet --help` stays fast.
"""

from __future__ import annotations

from typing import Any

from llmnet_core import hookimpl

__version__ = "0.1.0"


@hookimpl(trylast=True)
def llmnet_register_caches(register: Any) -> None:
    """Register `redis` (trylast, so a third-party plugin may provide its own)."""
    from .cache import RedisCache

    register("redis", RedisCache)
