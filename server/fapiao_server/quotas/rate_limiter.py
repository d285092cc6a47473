"""Per-principal request rate, fleet-wide, at the cost of one Redis call per slice of requests.

Algorithm. Each principal has one token bucket in Redis (``take_tokens.lua``): capacity ``burst`` = one second
of its rate (at least 1), refilled continuously at ``rate`` tokens/s by Redis's own clock. A worker does not
spend those tokens one call at a time: it *leases* a slice of up to ``ceil(rate x slice_seconds)`` tokens
(at most ``MAX_SLICE``, at most ``burst``, at least 1) in one atomic script call and spends it in memory. A
lease lapses ``slice_seconds`` after it was taken, spent or not, so tokens never hoard. Concurrent calls of one
principal on one worker share a single Redis call for the next slice. When Redis answers "no token", the
worker remembers the refusal until the next token is due and refuses locally meanwhile, so a flood of refused
calls costs no Redis traffic either.

Error bounds (W workers, slice size s, lease life L = slice_seconds):

- Never more than the bucket: every admitted call spends a token taken from Redis at most L earlier, so over
  any window of T seconds the fleet admits at most ``burst + rate x (T + L)`` calls: an exact bucket's
  allowance plus at most one slice's worth of time.
- Possibly fewer: tokens leased by other workers and lapsing unspent are lost, so a principal spread over
  W workers may be refused while up to ``(W - 1) x s`` tokens sit in other workers' leases (for the default
  20/s and L = 0.25 s: s = 5 tokens per worker, for a quarter of a second).
- Cost: at rate r a busy worker makes at most r/s + 1/L Redis calls per second per principal; with the
  defaults that is 4 calls/s for 20 requests/s, and 4 calls/s per worker at 1,000/s with s = MAX_SLICE.

When Redis cannot answer (``QuotaStoreUnavailable``: error, timeout or open breaker), slices come from a
bucket in this worker's memory with the same rate and burst: each worker then admits up to the principal's
whole rate, so the fleet admits up to W times it until Redis is back. Calls never fail for want of Redis.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..domain.quotas import rate_limited
from .bucket import TokenBucket
from .store import QuotaStoreUnavailable, RedisQuotaStore

MAX_SLICE = 250
# Seconds a call waits for its principal's next slice before its worker's own bucket decides instead (a Redis call
# is bounded by its timeout; this bounds everything else that could hold the refill up).
REFILL_PATIENCE = 2.0
# Past this many principals in memory, lapsed leases and idle fallback buckets are dropped.
_SWEEP_ABOVE = 50_000


@dataclass(slots=True)
class _Lease:
    tokens: int
    until: float  # monotonic time at which the lease lapses (or, when refused, the next token is due)
    refused: bool = False


class FleetRateLimiter:
    """``await admit(principal)`` returns when the call may go ahead and raises QuotaExceeded when not."""

    def __init__(
        self,
        store: RedisQuotaStore | None,
        *,
        default_rate: float,
        slice_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if default_rate <= 0 or slice_seconds <= 0:
            raise ValueError("rate and slice_seconds must be positive")
        self._store = store
        self._default_rate = default_rate
        self._slice_seconds = slice_seconds
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._refills: dict[str, asyncio.Task[None]] = {}
        self._fallback: dict[str, TokenBucket] = {}

    async def admit(self, principal: str, rate: float | None = None) -> None:
        """Spend one of ``principal``'s tokens. ``rate``: requests/s, positive; None or 0 means the default."""
        rate = rate or self._default_rate
        waited = False
        while True:
            lease = self._leases.get(principal)
            now = self._clock()
            # A caller that waited for a slice may spend it even if it woke after the slice lapsed: the tokens were
            # granted while it waited. Were it sent round for another slice, a loop lagging by more than a slice
            # would let no call through at all (a livelock: every waiter wakes to a lapsed lease).
            if lease is not None and (now < lease.until or waited):
                if lease.tokens > 0:
                    lease.tokens -= 1
                    return
                if lease.refused and now < lease.until:
                    raise rate_limited(principal, rate, lease.until - now)
            refill = self._refills.get(principal)
            if refill is None:
                # A context of its own: every waiting call shares the refill, not only the one that started it.
                refill = asyncio.create_task(self._refill(principal, rate), context=contextvars.Context())
                self._refills[principal] = refill
                refill.add_done_callback(lambda _: self._refills.pop(principal, None))
            # Shielded: one caller giving up (its deadline) must not cancel the slice the others wait for. Bounded:
            # however the shared refill fares, no call waits on it longer than REFILL_PATIENCE; past that it is
            # judged by this worker's own bucket, as when Redis is away.
            try:
                await asyncio.wait_for(asyncio.shield(refill), REFILL_PATIENCE)
                waited = True
            except TimeoutError:
                taken, wait = self._local_bucket(principal, rate, max(1.0, rate)).take(1, self._clock())
                if taken:
                    return
                raise rate_limited(principal, rate, wait) from None

    async def _refill(self, principal: str, rate: float) -> None:
        burst = max(1.0, rate)
        want = max(1, min(MAX_SLICE, math.floor(burst), math.ceil(rate * self._slice_seconds)))
        try:
            if self._store is None:
                raise QuotaStoreUnavailable("no Redis configured")
            taken, wait = await self._store.take_tokens(principal, rate=rate, burst=burst, want=want)
        except QuotaStoreUnavailable:
            taken, wait = self._local_bucket(principal, rate, burst).take(want, self._clock())
        now = self._clock()
        if len(self._leases) > _SWEEP_ABOVE:
            self._sweep(now)
        if taken:
            self._leases[principal] = _Lease(taken, now + self._slice_seconds)
        else:
            self._leases[principal] = _Lease(0, now + wait, refused=True)

    def _local_bucket(self, principal: str, rate: float, burst: float) -> TokenBucket:
        bucket = self._fallback.get(principal)
        if bucket is None or bucket.rate != rate:
            bucket = self._fallback[principal] = TokenBucket(rate, burst, self._clock())
        return bucket

    def _sweep(self, now: float) -> None:
        self._leases = {p: lease for p, lease in self._leases.items() if lease.until > now}
        # Only under memory pressure: a dropped bucket starts full again, forgiving at most one burst.
        self._fallback = {p: b for p, b in self._fallback.items() if p in self._leases}
