"""The quotas' shared state in Redis: each principal's token bucket and each day's verification counters.

Every call is bounded by the Redis timeout and guarded by a circuit breaker; when Redis cannot answer, calls
raise ``QuotaStoreUnavailable`` at once and the callers count in memory instead. The switch is logged once
each way. Scripts touch several keys, so this targets a single Redis (or a primary), not Redis Cluster.

Keys: ``<prefix>quota:rate:<principal>`` (hash), ``<prefix>quota:verify:<counter>`` (integer, lapses at the
next Asia/Shanghai midnight).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..cache.breaker import CircuitBreaker
from ..coalescing import Coalescer

log = logging.getLogger(__name__)
T = TypeVar("T")


class QuotaStoreUnavailable(Exception):
    """Redis cannot answer now; count in this worker's memory instead."""


def _script(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


class RedisQuotaStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str, breaker: CircuitBreaker | None = None) -> None:
        self._redis = client
        self._prefix = prefix
        self._take = client.register_script(_script("take_tokens.lua"))
        self._count = client.register_script(_script("count_attempts.lua"))
        self._breaker = breaker or CircuitBreaker()
        self._degraded = False
        self.unavailable = 0  # calls Redis did not answer, so the caller counted in memory (read by the metrics)
        # Every verification counts an attempt: under load, one script call serves all that arrive meanwhile.
        self._counts: Coalescer[tuple[str, int], int] = Coalescer(self._count_batch, max_batch=2000)

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if not self._breaker.allow():
            self.unavailable += 1
            raise QuotaStoreUnavailable("redis circuit open")
        try:
            result = await operation()
        except (RedisError, OSError, TimeoutError) as error:
            self.unavailable += 1
            self._breaker.failure()
            if not self._degraded:
                self._degraded = True
                log.warning("quota store unreachable (%s): per-worker limits in memory until it answers", error)
            raise QuotaStoreUnavailable(str(error)) from error
        self._breaker.success()
        if self._degraded:
            self._degraded = False
            log.warning("quota store answers again: fleet-wide limits are back")
        return result

    async def take_tokens(self, principal: str, *, rate: float, burst: float, want: int) -> tuple[int, float]:
        """Take up to ``want`` tokens from the principal's fleet-wide bucket: (taken, seconds until one if none)."""
        key = f"{self._prefix}quota:rate:{principal}"
        taken, wait = await self._call(lambda: self._take(keys=[key], args=[repr(rate), repr(burst), want]))
        return int(taken), float(wait)

    async def count_attempts(self, counters: Sequence[str], *, lapse_at: int) -> list[int]:
        """Add one attempt to each counter (in order, repeats counted each time); the new counts. The counters
        lapse at the unix time ``lapse_at``. Concurrent calls share one script call."""
        return await self._counts.submit([(f"{self._prefix}quota:verify:{name}", lapse_at) for name in counters])

    async def _count_batch(self, counters: list[tuple[str, int]]) -> list[int]:
        keys, lapses = [key for key, _ in counters], [lapse for _, lapse in counters]
        return [int(n) for n in await self._call(lambda: self._count(keys=keys, args=lapses))]

    async def close(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
