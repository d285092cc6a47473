"""The protocol every cache backend speaks. Values are bytes; keys are strings without the namespace prefix.

A lease is a short-lived claim on a missing key: whoever holds it loads the value and fills it in, and the
fill only lands if the lease is still held. Deleting a key also breaks its lease, so a reader that loaded
the old value before an invalidation can never write it back (the Memcache "lease" idea).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class CacheUnavailable(Exception):
    """The cache cannot answer now; callers carry on without it."""


class CacheBackend(Protocol):
    """A cache shared by the fleet (Redis)."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def lease(self, keys: Sequence[str], token: str, ttl_ms: int) -> list[bool]:
        """Claim each missing key for ``token``; True where the claim was granted."""
        ...

    async def fill(self, entries: Sequence[tuple[str, bytes, int]], token: str) -> None:
        """Set (key, value, ttl_ms) where ``token`` still holds the key's lease; release those leases."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Drop the keys and break their leases; if the cache cannot be reached now, do it before its next read."""
        ...

    async def clear(self, bulk_id: str) -> None:
        """Drop every key, once per ``bulk_id`` across the fleet; deferred like ``delete`` when unreachable."""
        ...

    async def close(self) -> None: ...
