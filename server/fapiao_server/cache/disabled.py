"""No cache at all (FAPIAO_CACHE=off): every lookup goes to PostgreSQL. For benchmarks and diagnosis."""

from __future__ import annotations

from collections.abc import Sequence


class DisabledCache:
    local = True

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [None] * len(keys)

    async def lease(self, keys: Sequence[str], token: str, ttl_ms: int) -> list[bool]:
        return [True] * len(keys)

    async def fill(self, entries: Sequence[tuple[str, bytes, int]], token: str) -> None:
        return None

    async def delete(self, keys: Sequence[str]) -> None:
        return None

    async def clear(self, bulk_id: str) -> None:
        return None

    async def close(self) -> None:
        return None
