"""The shared Redis cache. Every call is bounded by a short timeout and guarded by a circuit breaker, so a
slow or dead Redis degrades lookups to PostgreSQL instead of failing them, and is used again by itself once
it answers. Invalidations that could not reach Redis are kept and replayed before Redis is trusted again.

Keys: ``<prefix>inv:<code>:<number>`` for values, ``<prefix>inv-lease:<code>:<number>`` for leases. Scripts
touch several keys, so this targets a single Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..coalescing import Coalescer
from .backend import CacheUnavailable
from .breaker import CircuitBreaker

log = logging.getLogger(__name__)
T = TypeVar("T")

# Set each value whose lease is still held by ARGV[1]; KEYS = value1, lease1, value2, lease2, ...;
# ARGV = token, payload1, ttl1, payload2, ttl2, ...
_FILL = """
local token = ARGV[1]
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i + 1]) == token then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[i + 2])
    redis.call('DEL', KEYS[i + 1])
  end
end
return 0
"""
# Remember at most this many failed invalidations; beyond that, clear everything on recovery.
_MAX_PENDING_DELETES = 100_000


def connect(url: str, *, timeout: float, max_connections: int) -> aioredis.Redis:
    """A client whose every call (and wait for a connection) gives up after ``timeout`` seconds, without retries:
    each user has a fallback of its own, which is the retry; redis-py's retries would only multiply the wait."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis(connection_pool=pool)


def _undecoded(value: bytes | str | None) -> bytes | None:
    # redis-py's replies are typed bytes or str, str being for clients that decode responses; connect() makes
    # none that do, so a cached value is always bytes.
    if isinstance(value, str):
        raise TypeError("the Redis client decodes responses; the cache needs them as bytes")
    return value


class RedisCache:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "fapiao:v1:",
        timeout: float = 0.25,
        max_connections: int = 64,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._redis = connect(url, timeout=timeout, max_connections=max_connections)
        self._prefix = prefix
        self._fill_script = self._redis.register_script(_FILL)
        self._breaker = breaker or CircuitBreaker()
        self._pending_deletes: set[str] = set()
        self._pending_clear = False
        # Deletions asked for together (every IssueInvoice of a group commit drops its new key) share one DEL.
        self._deletes: Coalescer[str, None] = Coalescer(self._delete_batch, max_batch=2000)

    def _value(self, key: str) -> str:
        return f"{self._prefix}inv:{key}"

    def _lease(self, key: str) -> str:
        return f"{self._prefix}inv-lease:{key}"

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if not self._breaker.allow():
            raise CacheUnavailable("redis circuit open")
        try:
            # Whatever could not be invalidated earlier is invalidated before anything is read again.
            if self._pending_deletes or self._pending_clear:
                await self._replay_invalidations()
            result = await operation()
        except (RedisError, OSError, TimeoutError) as error:
            self._breaker.failure()
            raise CacheUnavailable(str(error)) from error
        self._breaker.success()
        return result

    async def _replay_invalidations(self) -> None:
        """Before trusting a recovered Redis, apply the invalidations it missed."""
        if self._pending_clear:
            await self._clear_namespace()
            self._pending_clear = False
            self._pending_deletes.clear()
        while self._pending_deletes:
            batch = [self._pending_deletes.pop() for _ in range(min(1000, len(self._pending_deletes)))]
            try:
                await self._redis.delete(*batch)
            except BaseException:
                self._pending_deletes.update(batch)
                raise

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        names = [self._value(k) for k in keys]
        if len(names) == 1:
            values = [await self._call(lambda: self._redis.get(names[0]))]
        else:
            values = await self._call(lambda: self._redis.mget(names))
        return [_undecoded(value) for value in values]

    async def lease(self, keys: Sequence[str], token: str, ttl_ms: int) -> list[bool]:
        async def claim() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._lease(key), token, nx=True, px=ttl_ms)
                return await pipe.execute()

        return [bool(granted) for granted in await self._call(claim)]

    async def fill(self, entries: Sequence[tuple[str, bytes, int]], token: str) -> None:
        names: list[str] = []
        args: list[Any] = [token]
        for key, value, ttl_ms in entries:
            names += [self._value(key), self._lease(key)]
            args += [value, ttl_ms]
        await self._call(lambda: self._fill_script(keys=names, args=args))

    async def _delete_batch(self, names: list[str]) -> list[None]:
        await self._call(lambda: self._redis.delete(*names))
        return [None] * len(names)

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:  # DEL with no keys is a Redis error, which the breaker would count as an outage
            return
        names = [name for key in keys for name in (self._value(key), self._lease(key))]
        try:
            await self._deletes.submit(names)
        except CacheUnavailable:
            if len(self._pending_deletes) + len(names) > _MAX_PENDING_DELETES:
                self._pending_clear = True
            else:
                self._pending_deletes.update(names)

    async def clear(self, bulk_id: str) -> None:
        async def clear_once() -> None:
            # Every worker hears the same bulk announcement; one of them does the sweep.
            if await self._redis.set(f"{self._prefix}bulk:{bulk_id}", 1, nx=True, ex=3600):
                await self._clear_namespace()

        try:
            await self._call(clear_once)
        except CacheUnavailable:
            self._pending_clear = True

    async def _clear_namespace(self) -> None:
        batch: list[bytes] = []
        async for name in self._redis.scan_iter(match=f"{self._prefix}inv*", count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                await self._redis.unlink(*batch)
                batch = []
        if batch:
            await self._redis.unlink(*batch)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
