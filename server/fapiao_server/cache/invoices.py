"""Cache-aside lookups of invoices: this process's near cache, then the fleet's shared cache (Redis), then
PostgreSQL; positive and negative entries; stampede protection.

- A near hit answers without any round trip. A shared hit is copied near.
- A shared miss claims a lease, loads from PostgreSQL and fills the shared cache; across processes the lease
  lets one load while the others wait briefly for its fill. Concurrent lookups of one key in this process
  share one lookup (single flight).
- Any shared-cache failure is a miss that is not filled: the answer comes from PostgreSQL and the caller never
  sees the cache's trouble.
- Shared TTLs get +/-10% jitter so entries filled together do not expire together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..domain.invoice import Invoice, InvoiceKey
from ..services.ports import InvoiceChanges, InvoiceSource
from ..telemetry import spans
from .backend import CacheBackend, CacheUnavailable
from .codec import CorruptEntry, decode, encode
from .near import NearCache

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    near_hits: int = 0
    near_misses: int = 0  # lookups the near cache could not answer (0 without a near cache)
    hits: int = 0  # shared-cache hits
    misses: int = 0  # shared-cache misses
    loads: int = 0  # keys loaded from PostgreSQL
    unavailable: int = 0  # lookups that found the shared cache unusable


@dataclass(frozen=True, slots=True)
class CachePolicy:
    ttl_seconds: float = 300.0
    negative_ttl_seconds: float = 30.0
    lease_ms: int = 2000
    # How long a miss waits for another process's fill before loading by itself.
    wait_for_fill_seconds: float = 0.05


def cache_key(key: InvoiceKey) -> str:
    return f"{key.invoice_code}:{key.invoice_number}"


def _answered_by(tier: str) -> None:
    """Which tier answered a lookup: on its span, and on the call's so calls can be searched by it."""
    spans.note("fapiao.cache.tier", tier)
    spans.annotate_call("fapiao.cache.tier", tier)


class CachedInvoices:
    """The invoice lookup port for the services. ``near`` and ``shared`` are each optional."""

    def __init__(
        self,
        source: InvoiceSource,
        *,
        near: NearCache | None = None,
        shared: CacheBackend | None = None,
        policy: CachePolicy | None = None,
    ) -> None:
        self._source = source
        self._near = near
        self._shared = shared
        self._policy = policy or CachePolicy()
        self._inflight: dict[InvoiceKey, asyncio.Future[Invoice | None]] = {}
        self._token_prefix = f"{os.getpid()}-{random.getrandbits(32):08x}-"
        self._tokens = 0
        self.stats = CacheStats()

    @property
    def has_near(self) -> bool:
        return self._near is not None

    @property
    def has_shared(self) -> bool:
        return self._shared is not None

    def _token(self) -> str:
        self._tokens += 1
        return f"{self._token_prefix}{self._tokens}"

    def _ttl_ms(self, invoice: Invoice | None) -> int:
        seconds = self._policy.negative_ttl_seconds if invoice is None else self._policy.ttl_seconds
        return int(seconds * 1000 * random.uniform(0.9, 1.1))

    async def get(self, key: InvoiceKey) -> Invoice | None:
        """The invoice with this key, or None if the register has none."""
        if self._near is not None:
            found, invoice = self._near.get(key)
            if found:
                self.stats.near_hits += 1
                # No span of its own: a near hit takes microseconds, while a span costs a traced call more than the
                # rest of its lookup; the call's span says that the near cache answered.
                spans.annotate_call("fapiao.cache.tier", "near")
                return invoice
            self.stats.near_misses += 1
        with spans.span("fapiao.cache.lookup"):
            return await self._beyond_near(key)

    async def _beyond_near(self, key: InvoiceKey) -> Invoice | None:
        shared = self._inflight.get(key)
        if shared is not None:
            try:
                invoice = await asyncio.shield(shared)
                _answered_by("in_flight")  # another call's lookup in this worker, of whichever tier
                return invoice
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not shared.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The call leading this lookup was cancelled, not us: look it up ourselves.
        future: asyncio.Future[Invoice | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            invoice = await self._lookup(key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # marks it retrieved; waiters (if any) re-raise it themselves
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(invoice)
        return invoice

    async def _lookup(self, key: InvoiceKey) -> Invoice | None:
        mark = self._near.mark() if self._near is not None else 0
        invoice = await self._shared_lookup(key) if self._shared is not None else await self._load_one(key)
        if self._near is not None:
            self._near.put(key, invoice, mark)
        return invoice

    async def _shared_lookup(self, key: InvoiceKey) -> Invoice | None:
        assert self._shared is not None
        name = cache_key(key)
        try:
            (cached,) = await self._shared.get_many([name])
            if cached is not None:
                with contextlib.suppress(CorruptEntry):
                    invoice = self._hit(cached)
                    _answered_by("redis")
                    return invoice
                log.warning("unreadable cache entry for %s; reloading it", name)
            self.stats.misses += 1
            token = self._token()
            (granted,) = await self._shared.lease([name], token, self._policy.lease_ms)
        except CacheUnavailable:
            self.stats.unavailable += 1
            spans.note("fapiao.cache.redis_unavailable", True)
            return await self._load_one(key)
        if not granted:
            return await self._wait_for_fill(key, name)
        invoice = await self._load_one(key)
        await self._fill([(name, invoice)], token)
        return invoice

    def _hit(self, cached: bytes) -> Invoice | None:
        invoice = decode(cached)
        self.stats.hits += 1
        return invoice

    async def _wait_for_fill(self, key: InvoiceKey, name: str) -> Invoice | None:
        """Another process holds the lease: give its fill a moment before loading without filling."""
        assert self._shared is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.wait_for_fill_seconds
        delay = 0.005
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay *= 2
            try:
                (cached,) = await self._shared.get_many([name])
            except CacheUnavailable:
                break
            if cached is not None:
                try:
                    invoice = self._hit(cached)
                except CorruptEntry:
                    break
                _answered_by("redis")  # filled by the worker that held the lease
                return invoice
        return await self._load_one(key)

    async def _load_one(self, key: InvoiceKey) -> Invoice | None:
        self.stats.loads += 1
        invoice = await self._source.get(key)
        _answered_by("postgresql")
        return invoice

    async def _load(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        self.stats.loads += len(keys)
        return await self._source.get_many(keys)

    async def _fill(self, entries: Sequence[tuple[str, Invoice | None]], token: str) -> None:
        assert self._shared is not None
        # If the cache is unavailable the answer stands; the next lookup tries the cache again.
        with contextlib.suppress(CacheUnavailable):
            await self._shared.fill([(name, encode(inv), self._ttl_ms(inv)) for name, inv in entries], token)

    async def get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        """The invoices that exist among ``keys`` (duplicates allowed). Shared-cache misses load in one query;
        a batch does not wait on other processes' leases, it just loads what it misses."""
        with spans.span("fapiao.cache.lookup_many"):
            loads = self.stats.loads
            found = await self._get_many(keys)
            spans.note("fapiao.cache.keys", len(keys))
            spans.note("fapiao.cache.postgresql_keys", self.stats.loads - loads)
            return found

    async def _get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        found: dict[InvoiceKey, Invoice] = {}
        wanted: list[InvoiceKey] = []
        for key in dict.fromkeys(keys):
            hit, invoice = self._near.get(key) if self._near is not None else (False, None)
            if not hit:
                wanted.append(key)
            elif invoice is not None:
                found[key] = invoice
        if self._near is not None:
            self.stats.near_hits += len(keys) - len(wanted)
            self.stats.near_misses += len(wanted)
        if not wanted:
            return found
        mark = self._near.mark() if self._near is not None else 0
        looked_up = await self._shared_many(wanted) if self._shared is not None else await self._load(wanted)
        if self._near is not None:
            for key in wanted:
                self._near.put(key, looked_up.get(key), mark)
        found.update(looked_up)
        return found

    async def _shared_many(self, keys: list[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        assert self._shared is not None
        names = [cache_key(k) for k in keys]
        try:
            cached = await self._shared.get_many(names)
        except CacheUnavailable:
            self.stats.unavailable += len(keys)
            return await self._load(keys)
        found: dict[InvoiceKey, Invoice] = {}
        missing: list[tuple[InvoiceKey, str]] = []
        for key, name, value in zip(keys, names, cached, strict=True):
            try:
                invoice = None if value is None else self._hit(value)
            except CorruptEntry:
                value = None
            if value is None:
                missing.append((key, name))
            elif invoice is not None:
                found[key] = invoice
        if not missing:
            return found
        self.stats.misses += len(missing)
        token = self._token()
        try:
            granted = await self._shared.lease([name for _, name in missing], token, self._policy.lease_ms)
        except CacheUnavailable:
            granted = [False] * len(missing)
        loaded = await self._load([key for key, _ in missing])
        found.update(loaded)
        fills = [(name, loaded.get(key)) for (key, name), ok in zip(missing, granted, strict=True) if ok]
        if fills:
            await self._fill(fills, token)
        return found

    async def on_changes(self, changes: InvoiceChanges) -> None:
        """Apply an invoice-change announcement (see storage.notifications)."""
        if self._near is not None:
            if changes.keys is None:
                self._near.clear()
            else:
                self._near.invalidate(changes.keys)
        if self._shared is None or changes.missed:
            return  # a gap in this process's listening says nothing about the shared cache
        # A shared cache that cannot be reached keeps the change and applies it before it is read again.
        if changes.keys is None:
            await self._shared.clear(changes.bulk_id)
        else:
            await self._shared.delete([cache_key(k) for k in changes.keys])

    async def invalidate(self, keys: Sequence[InvoiceKey]) -> None:
        """Drop keys at once (the writer's own invalidation, ahead of the announcement)."""
        await self.on_changes(InvoiceChanges(keys=tuple(keys)))

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()
