"""This process's own copies of invoices (and of "no such invoice"), in front of the shared cache.

A hit costs no round trip at all. Copies are dropped when PostgreSQL announces a change (every worker listens),
and a copy is never stored if its invoice was invalidated while it was being looked up: each lookup takes a
mark first, and a put is refused if an invalidation of that key (or a full clear) came after the mark.
"""

from __future__ import annotations

from collections.abc import Iterable

from cachetools import TLRUCache

from ..domain.invoice import Invoice, InvoiceKey

# Invalidations remembered per key; beyond that a full clear is cheaper and just as correct.
_MAX_REMEMBERED = 10_000


def _expiry(_key: InvoiceKey, entry: tuple[Invoice | None, float], now: float) -> float:
    return now + entry[1]


class NearCache:
    def __init__(self, *, max_entries: int, ttl_seconds: float, negative_ttl_seconds: float) -> None:
        self._entries: TLRUCache[InvoiceKey, tuple[Invoice | None, float]] = TLRUCache(max_entries, ttu=_expiry)
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._events = 0
        self._cleared_at = 0
        self._invalidated: dict[InvoiceKey, int] = {}

    def mark(self) -> int:
        """Take before looking an invoice up elsewhere; pass to ``put``."""
        return self._events

    def get(self, key: InvoiceKey) -> tuple[bool, Invoice | None]:
        """(True, invoice or None for a known absence) on a hit, (False, None) on a miss."""
        entry = self._entries.get(key)
        return (False, None) if entry is None else (True, entry[0])

    def put(self, key: InvoiceKey, invoice: Invoice | None, mark: int) -> None:
        if self._cleared_at > mark or self._invalidated.get(key, 0) > mark:
            return  # changed while it was being looked up: what we hold may be the old version
        self._entries[key] = (invoice, self._negative_ttl if invoice is None else self._ttl)

    def invalidate(self, keys: Iterable[InvoiceKey]) -> None:
        self._events += 1
        for key in keys:
            self._entries.pop(key, None)
            self._invalidated[key] = self._events
        if len(self._invalidated) > _MAX_REMEMBERED:
            self.clear()

    def clear(self) -> None:
        self._events += 1
        self._cleared_at = self._events
        self._entries.clear()
        self._invalidated.clear()
