"""Counting verification attempts per (day, caller, invoice) for the daily limit: fleet-wide in Redis (an
atomic INCR per counter, lapsing at the next Asia/Shanghai midnight), or in this worker's memory while Redis
cannot answer, so verifications go on under a per-worker limit (the fleet may then allow W times the limit)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from .store import QuotaStoreUnavailable, RedisQuotaStore

log = logging.getLogger(__name__)
# A worker counting in memory forgets everything past this many counters (the limit fails open, not the calls).
MAX_LOCAL_COUNTERS = 1_000_000


class VerificationAttempts:
    """Implements ``services.ports.AttemptCounter``."""

    def __init__(self, store: RedisQuotaStore | None) -> None:
        self._store = store
        self._local: dict[str, int] = {}
        self._local_lapse: datetime | None = None

    async def count(self, counters: Sequence[str], *, lapse_at: datetime) -> list[int]:
        """One more attempt on each counter, in order; returns the counts including these attempts."""
        if self._store is not None:
            try:
                return await self._store.count_attempts(counters, lapse_at=int(lapse_at.timestamp()))
            except QuotaStoreUnavailable:
                pass
        return self._count_locally(counters, lapse_at)

    def _count_locally(self, counters: Sequence[str], lapse_at: datetime) -> list[int]:
        if lapse_at != self._local_lapse or len(self._local) + len(counters) > MAX_LOCAL_COUNTERS:
            if self._local and lapse_at == self._local_lapse:
                log.warning("over %d verification counters in memory; starting again from zero", MAX_LOCAL_COUNTERS)
            self._local = {}  # a new business day, or memory to spare
            self._local_lapse = lapse_at
        counts = []
        for name in counters:
            self._local[name] = count = self._local.get(name, 0) + 1
            counts.append(count)
        return counts
