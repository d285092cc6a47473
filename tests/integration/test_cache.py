"""Cache-aside over real Redis (and the in-process cache) with real PostgreSQL behind it, including Redis going
away, stalling and coming back."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime

import psycopg
import pytest
import redis

from fapiao_server.cache.breaker import CircuitBreaker
from fapiao_server.cache.codec import encode
from fapiao_server.cache.invoices import CachedInvoices, cache_key
from fapiao_server.cache.near import NearCache
from fapiao_server.cache.redis import RedisCache
from fapiao_server.domain.invoice import Invoice, InvoiceKey, InvoiceState
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.notifications import listen_for_changes
from tests.conftest import Register
from tests.support.keys import keyring_of
from tests.support.services import RedisProcess


class CountingSource:
    """The real PostgreSQL repository, counting the keys it was asked for."""

    def __init__(self, inner: PostgresInvoices) -> None:
        self.inner = inner
        self.keys = 0

    async def get(self, key: InvoiceKey) -> Invoice | None:
        self.keys += 1
        return await self.inner.get(key)

    async def get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        self.keys += len(keys)
        return await self.inner.get_many(keys)


def _unused_key() -> InvoiceKey:
    # 数电 prefix 26119 is never seeded (channel 9); the sequence is random.
    return InvoiceKey("", f"26119{uuid.uuid4().int % 10**15:015d}")


def _near() -> NearCache:
    return NearCache(max_entries=1000, ttl_seconds=60, negative_ttl_seconds=30)


@pytest.fixture(params=["shared", "near", "near+shared"])
async def lookups(request: pytest.FixtureRequest, redis_url: str, key_prefix: str, pool) -> AsyncIterator:  # type: ignore[no-untyped-def]
    """Builds CachedInvoices over a counting PostgreSQL source, in each arrangement the app can run."""
    shared = RedisCache(redis_url, prefix=key_prefix) if "shared" in request.param else None

    def build() -> tuple[CachedInvoices, CountingSource]:
        source = CountingSource(PostgresInvoices(pool, keyring_of(pool)))
        near = _near() if "near" in request.param else None
        return CachedInvoices(source, near=near, shared=shared), source

    yield build
    if shared is not None:
        await shared.close()


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    process = RedisProcess().start()
    yield process
    process.close()


async def test_hits_misses_and_negative_entries(lookups, register: Register) -> None:  # type: ignore[no-untyped-def]
    cached, source = lookups()
    sample = register.sample()
    key = InvoiceKey(sample.invoice_code, sample.invoice_number)
    first = await cached.get(key)
    assert first is not None and first.id == sample.id
    assert await cached.get(key) == first
    missing = _unused_key()
    assert await cached.get(missing) is None
    assert await cached.get(missing) is None
    assert source.keys == 2, "one load per key; the second lookups were answered by a cache"
    assert cached.stats.hits + cached.stats.near_hits == 2


async def test_a_shared_fill_after_invalidation_is_refused(redis_url: str, key_prefix: str) -> None:
    backend = RedisCache(redis_url, prefix=key_prefix)
    name = cache_key(_unused_key())
    try:
        assert await backend.lease([name], "reader", 5000) == [True]
        assert await backend.lease([name], "other", 5000) == [False]
        await backend.delete([name])  # the invoice changed while the reader was loading it
        await backend.fill([(name, b"stale", 5000)], "reader")
        assert await backend.get_many([name]) == [None]
    finally:
        await backend.close()


async def test_dropping_no_keys_is_not_an_outage(redis_url: str, key_prefix: str) -> None:
    """A change that touches no cached invoice (a red-letter form's) drops nothing: never a failed call that
    counts toward opening the breaker."""
    breaker = CircuitBreaker(threshold=1)
    backend = RedisCache(redis_url, prefix=key_prefix, breaker=breaker)
    name = cache_key(_unused_key())
    try:
        for _ in range(3):
            await backend.delete([])
        assert await backend.lease([name], "reader", 5000) == [True]  # Redis is still used
    finally:
        await backend.close()


async def test_batch_lookup_mixes_hits_misses_and_absent(lookups, register: Register) -> None:  # type: ignore[no-untyped-def]
    cached, source = lookups()
    samples = register.samples(limit=20)
    keys = [InvoiceKey(s.invoice_code, s.invoice_number) for s in samples]
    await cached.get(keys[0])
    absent = _unused_key()
    found = await cached.get_many([*keys, absent, keys[1]])
    assert set(found) == set(keys)
    assert source.keys == 1 + 20, "the first key came from a cache; the rest in one load"
    again = await cached.get_many([*keys, absent])
    assert again == found and source.keys == 21


async def test_changes_announced_by_postgres_reach_the_cache(lookups, database_url: str) -> None:  # type: ignore[no-untyped-def]
    cached, _ = lookups()
    ready = asyncio.Event()
    listener = asyncio.create_task(listen_for_changes(database_url, cached.on_changes, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    key = _unused_key()
    try:
        assert await cached.get(key) is None  # a negative entry is now cached
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO invoices (invoice_type, invoice_number, issue_date, issue_time, region_code,"
                " seller_tax_id, seller_name, buyer_name, amount_fen, tax_fen, total_fen)"
                " VALUES (32, %s, current_date, now(), '1100', '9144030071526726XG', %s, %s, 100, 13, 113)",
                # Names in the form migration 0006 carries plaintext over in (version byte 0): no key needed.
                (key.invoice_number, b"\x00s", b"\x00b"),
            )
        started = time.monotonic()
        while (await cached.get(key)) is None:
            assert time.monotonic() - started < 2, "the insert was not announced to the cache within 2 s"
            await asyncio.sleep(0.01)
    finally:
        listener.cancel()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM invoices WHERE invoice_number = %s", (key.invoice_number,))


async def test_concurrent_misses_across_processes_load_once(  # type: ignore[no-untyped-def]
    redis_url: str, key_prefix: str, pool, register: Register
) -> None:
    source = CountingSource(PostgresInvoices(pool, keyring_of(pool)))
    first, second = RedisCache(redis_url, prefix=key_prefix), RedisCache(redis_url, prefix=key_prefix)
    workers = [CachedInvoices(source, shared=first), CachedInvoices(source, shared=second)]
    sample = register.sample("state = 1")
    key = InvoiceKey(sample.invoice_code, sample.invoice_number)
    try:
        answers = await asyncio.gather(*(workers[i % 2].get(key) for i in range(60)))
    finally:
        await first.close()
        await second.close()
    assert {a.id for a in answers if a} == {sample.id} and all(answers)
    assert source.keys <= 2, f"{source.keys} loads for one key: the stampede was not contained"


async def test_verification_survives_redis_dying_and_uses_it_again_when_back(  # type: ignore[no-untyped-def]
    own_redis: RedisProcess, pool, register: Register
) -> None:
    cache = RedisCache(own_redis.url, timeout=0.05, breaker=CircuitBreaker(threshold=2, reset_after=0.3))
    cached = CachedInvoices(PostgresInvoices(pool, keyring_of(pool)), shared=cache)
    sample = register.sample()
    key = InvoiceKey(sample.invoice_code, sample.invoice_number)
    try:
        await cached.get(key)
        assert (await cached.get(key)) is not None and cached.stats.hits == 1
        own_redis.stop()
        started = time.monotonic()
        for _ in range(20):
            invoice = await cached.get(key)
            assert invoice is not None and invoice.id == sample.id
        assert time.monotonic() - started < 2, "a dead Redis must not cost a timeout per lookup"
        own_redis.start()
        await asyncio.sleep(0.4)
        hits_before = cached.stats.hits
        deadline = time.monotonic() + 5
        while cached.stats.hits == hits_before:
            assert time.monotonic() < deadline, "the cache was not used again after Redis came back"
            await cached.get(key)
            await asyncio.sleep(0.05)
    finally:
        await cache.close()


async def test_a_stalled_redis_costs_only_its_timeout(own_redis: RedisProcess, pool, register: Register) -> None:  # type: ignore[no-untyped-def]
    cache = RedisCache(own_redis.url, timeout=0.05)
    cached = CachedInvoices(PostgresInvoices(pool, keyring_of(pool)), shared=cache)
    sample = register.sample()
    key = InvoiceKey(sample.invoice_code, sample.invoice_number)
    try:
        await cached.get(key)
        redis.Redis.from_url(own_redis.url).execute_command("CLIENT", "PAUSE", "1500", "ALL")
        for _ in range(5):
            started = time.monotonic()
            invoice = await cached.get(key)
            assert invoice is not None and invoice.id == sample.id
            assert time.monotonic() - started < 0.5
    finally:
        await asyncio.sleep(1.6)
        await cache.close()


async def test_invalidations_missed_during_a_stall_are_applied_before_reading_again(  # type: ignore[no-untyped-def]
    own_redis: RedisProcess, pool, register: Register
) -> None:
    cache = RedisCache(own_redis.url, timeout=0.05, breaker=CircuitBreaker(threshold=1, reset_after=0.2))
    cached = CachedInvoices(PostgresInvoices(pool, keyring_of(pool)), shared=cache)
    sample = register.sample("state = 1")
    key = InvoiceKey(sample.invoice_code, sample.invoice_number)
    try:
        invoice = await cached.get(key)
        assert invoice is not None
        # What Redis holds from before a change the register has since made (here: forged as VOIDED).
        stale = dataclasses.replace(invoice, state=InvoiceState.VOIDED, void_time=datetime.now(UTC))
        direct = redis.Redis.from_url(own_redis.url)
        direct.set(f"fapiao:v1:inv:{cache_key(key)}", encode(stale))
        direct.execute_command("CLIENT", "PAUSE", "600", "ALL")
        await cached.invalidate([key])  # cannot reach Redis now
        await asyncio.sleep(0.8)
        fresh = await cached.get(key)
        assert fresh is not None and fresh.state is InvoiceState.ISSUED
    finally:
        await cache.close()


async def test_a_miss_waits_for_the_fill_of_whoever_holds_the_lease(  # type: ignore[no-untyped-def]
    redis_url: str, key_prefix: str, pool, register: Register
) -> None:
    cache = RedisCache(redis_url, prefix=key_prefix)
    source = CountingSource(PostgresInvoices(pool, keyring_of(pool)))
    cached = CachedInvoices(source, shared=cache)
    sample = register.sample()
    key = InvoiceKey(sample.invoice_code, sample.invoice_number)
    loaded = (await PostgresInvoices(pool, keyring_of(pool)).get_many([key]))[key]
    try:
        assert await cache.lease([cache_key(key)], "another-process", 5000) == [True]
        lookup = asyncio.create_task(cached.get(key))
        await asyncio.sleep(0.01)
        await cache.fill([(cache_key(key), encode(loaded), 60_000)], "another-process")
        assert (await lookup) == loaded
        assert source.keys == 0, "the waiting lookup took the other process's fill instead of loading"
    finally:
        await cache.close()
