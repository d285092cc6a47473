"""The in-process cache: used when no Redis is configured (and by single-process development set-ups)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from cachetools import TLRUCache

_PRUNE_LEASES_ABOVE = 10_000


def _expiry(_key: str, entry: tuple[bytes, float], now: float) -> float:
    return now + entry[1]


class MemoryCache:
    """A bounded LRU with per-entry TTLs and leases, private to this process."""

    local = True

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._values: TLRUCache[str, tuple[bytes, float]] = TLRUCache(maxsize=max_entries, ttu=_expiry)
        self._leases: dict[str, tuple[str, float]] = {}

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = self._values
        out: list[bytes | None] = []
        for key in keys:
            entry = values.get(key)
            out.append(None if entry is None else entry[0])
        return out

    async def lease(self, keys: Sequence[str], token: str, ttl_ms: int) -> list[bool]:
        now = time.monotonic()
        if len(self._leases) > _PRUNE_LEASES_ABOVE:  # leases whose holder never filled (e.g. a failed load)
            self._leases = {k: held for k, held in self._leases.items() if held[1] > now}
        granted = []
        for key in keys:
            held = self._leases.get(key)
            if held is None or held[1] <= now:
                self._leases[key] = (token, now + ttl_ms / 1000)
                granted.append(True)
            else:
                granted.append(False)
        return granted

    async def fill(self, entries: Sequence[tuple[str, bytes, int]], token: str) -> None:
        for key, value, ttl_ms in entries:
            held = self._leases.get(key)
            if held is not None and held[0] == token:
                del self._leases[key]
                self._values[key] = (value, ttl_ms / 1000)

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._values.pop(key, None)
            self._leases.pop(key, None)

    async def clear(self, bulk_id: str) -> None:
        self._values.clear()
        self._leases.clear()

    async def close(self) -> None:
        await self.clear("")
