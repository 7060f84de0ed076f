"""`RedisCache`: answers kept in a Redis (or Valkey) server under `llmnet:answer:<sha256>`, each with the
cache's time to live, through the `redis` package's asyncio client (one pooled client per cache)."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from llmnet_core import CacheSpec, Problem, Resources, ResponseCache

#: where answers go when the cache names no `url`
DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: the prefix of every key this backend writes, so that a shared server's other keys are left alone
KEY_PREFIX = "llmnet:answer:"
#: seconds to connect and to wait for an answer; a slower server counts as failing (the model answers)
SOCKET_TIMEOUT = 2.0
SCHEMES = ("redis", "rediss", "unix")
URL_HINT = "use an address such as redis://127.0.0.1:6379/0, rediss://host:6380/0 or unix:///run/redis.sock"


class RedisCache(ResponseCache):
    """Answers kept in a Redis server, shared by every process and replica that names the same one."""

    description: ClassVar[str] = "answers kept in a Redis server, shared between processes and replicas"

    def __init__(self, spec: CacheSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        self.url = spec.url or DEFAULT_URL
        self._redis: Any = None

    @classmethod
    def check(cls, spec: CacheSpec) -> list[Problem]:
        """An address the client can use: a redis, rediss or unix URL with a valid port and database."""
        url = spec.url or DEFAULT_URL
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            return [Problem("url", f"{parts.scheme or url!r} is not a Redis address", URL_HINT)]
        if parts.scheme == "unix":
            return [] if parts.path else [Problem("url", "names no socket file", URL_HINT)]
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError:
            return [Problem("url", "has a port that is not a number from 1 to 65535", URL_HINT)]
        database = parts.path.strip("/")
        if database and not database.isdigit():
            return [Problem("url", f"names the database {database!r}; databases are numbers", URL_HINT)]
        return []

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.from_url(
                self.url,
                decode_responses=True,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
            )
        return self._redis

    async def get(self, key: str) -> str | None:
        value = await self._client().get(KEY_PREFIX + key)
        return value if isinstance(value, str) else None

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._client().set(KEY_PREFIX + key, value, px=max(1, round(ttl * 1000)))

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()
