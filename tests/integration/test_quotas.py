"""Quotas against a real Redis: workers (limiter instances with clients of their own) share one bucket, the daily
limit of verifications counts fleet-wide, and a dead Redis leaves each worker counting alone in memory."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from fapiao_server.cache.redis import connect
from fapiao_server.domain.calendar import next_business_day_start, utc_now
from fapiao_server.domain.errors import QuotaExceeded
from fapiao_server.domain.quotas import INVOICE_VERIFICATIONS_PER_DAY, DailyVerificationLimit
from fapiao_server.domain.verification import QrRequest, Verification, VerificationRequest
from fapiao_server.quotas.attempts import VerificationAttempts
from fapiao_server.quotas.rate_limiter import FleetRateLimiter
from fapiao_server.quotas.store import RedisQuotaStore
from fapiao_server.services.verification import VerificationService
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.verification_records import GroupCommitRecorder, PostgresVerificationRecords
from tests.conftest import Register, Sample
from tests.support.keys import keyring_of
from tests.support.services import RedisProcess

RATE = 40.0
SLICE_SECONDS = 0.25


def store_on(url: str, prefix: str) -> RedisQuotaStore:
    """One worker's store: a Redis client of its own, as each worker process has."""
    return RedisQuotaStore(connect(url, timeout=0.05, max_connections=4), prefix=prefix)


@pytest.fixture
async def stores(redis_url: str, key_prefix: str) -> AsyncIterator[list[RedisQuotaStore]]:
    opened = [store_on(redis_url, key_prefix) for _ in range(2)]
    yield opened
    for store in opened:
        await store.close()


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    process = RedisProcess().start()
    yield process
    process.close()


def request_for(sample: Sample) -> VerificationRequest:
    d = sample.issue_date
    return VerificationRequest(sample.invoice_code, sample.invoice_number, (d.year, d.month, d.day),
                               next(iter(sample.proof().items())))  # fmt: skip


def service_with(pool, attempts: VerificationAttempts) -> VerificationService:  # type: ignore[no-untyped-def]
    records = PostgresVerificationRecords(pool)
    return VerificationService(
        PostgresInvoices(pool, keyring_of(pool)), GroupCommitRecorder(records), records,
        attempts=attempts, daily_limit=DailyVerificationLimit(5),
    )  # fmt: skip


async def hammer(limiter: FleetRateLimiter, principal: str, seconds: float) -> int:
    """Call as fast as allowed for ``seconds``, waiting as told after each refusal; how many were admitted."""
    admitted, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await limiter.admit(principal)
            admitted += 1
            await asyncio.sleep(0)
        except QuotaExceeded as refused:
            await asyncio.sleep(refused.retry_after)
    return admitted


async def test_two_workers_share_one_bucket(stores: list[RedisQuotaStore]) -> None:
    limiters = [FleetRateLimiter(s, default_rate=RATE, slice_seconds=SLICE_SECONDS) for s in stores]
    seconds = 1.5
    started = time.monotonic()
    counts = await asyncio.gather(*(hammer(limiter, "alice", seconds) for limiter in limiters))
    # The bucket refills by the clock: a stall of this process (a garbage collection, a busy machine) that makes
    # the last admission end after the deadline lets the time it took refill too.
    elapsed = time.monotonic() - started
    total = sum(counts)
    burst, slice_size = RATE, RATE * SLICE_SECONDS
    # docs/quotas.md: at most an exact bucket's allowance plus one slice's worth of time; at least that
    # allowance less what other workers' leases may hold back.
    assert total <= burst + RATE * (max(seconds, elapsed) + SLICE_SECONDS)
    assert total >= burst + RATE * seconds - 2 * slice_size
    assert min(counts) > 0  # both workers were served, from the same bucket


async def test_a_refusal_says_when_the_next_token_is_due(stores: list[RedisQuotaStore]) -> None:
    limiter = FleetRateLimiter(stores[0], default_rate=RATE, slice_seconds=SLICE_SECONDS)
    other_worker = FleetRateLimiter(stores[1], default_rate=RATE, slice_seconds=SLICE_SECONDS)
    for _ in range(int(RATE)):
        await limiter.admit("bob")
    with pytest.raises(QuotaExceeded) as refused:
        await other_worker.admit("bob")  # the fleet's bucket is empty, not just the first worker's slice
    assert 0 < refused.value.retry_after <= 1 / RATE + 0.01
    await asyncio.sleep(refused.value.retry_after + 0.02)
    await other_worker.admit("bob")
    await limiter.admit("carol")  # someone else's bucket is untouched


async def test_the_sixth_verification_of_an_invoice_is_refused_until_midnight(
    stores: list[RedisQuotaStore], pool, register: Register
) -> None:  # type: ignore[no-untyped-def]
    workers = [service_with(pool, VerificationAttempts(store)) for store in stores]
    caller, request = f"quota-{uuid.uuid4().hex[:8]}", request_for(register.sample())
    left = [(await workers[n % 2].verify(request, caller=caller)).verifications_left for n in range(5)]
    assert left == [4, 3, 2, 1, 0]  # counted across both workers
    with pytest.raises(QuotaExceeded) as refused:
        await workers[0].verify(request, caller=caller)
    error = refused.value
    assert (error.quota, error.limit, error.remaining) == (INVOICE_VERIFICATIONS_PER_DAY, 5, 0)
    until_midnight = (next_business_day_start(utc_now()) - utc_now()).total_seconds()
    assert until_midnight - 5 <= error.retry_after <= until_midnight + 5
    other = await workers[1].verify(request, caller=caller + "-other")
    assert other.verifications_left == 4


async def test_concurrent_verifications_each_count_once(
    stores: list[RedisQuotaStore], pool, register: Register
) -> None:  # type: ignore[no-untyped-def]
    workers = [service_with(pool, VerificationAttempts(store)) for store in stores]
    caller, request = f"quota-{uuid.uuid4().hex[:8]}", request_for(register.sample())
    calls = [workers[n % 2].verify(request, caller=caller) for n in range(8)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert sorted(r.verifications_left for r in results if isinstance(r, Verification)) == [0, 1, 2, 3, 4]
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 3


async def test_a_refused_batch_item_is_that_items_error(
    stores: list[RedisQuotaStore], pool, register: Register
) -> None:  # type: ignore[no-untyped-def]
    service = service_with(pool, VerificationAttempts(stores[0]))
    caller, sample, another = f"quota-{uuid.uuid4().hex[:8]}", *register.samples(limit=2)
    items = [QrRequest(sample.qr_payload)] * 7 + [QrRequest("garbage"), QrRequest(another.qr_payload)]
    results = await service.verify_batch(items, caller=caller)
    assert [r.verifications_left for r in results[:5] if isinstance(r, Verification)] == [4, 3, 2, 1, 0]
    assert all(isinstance(r, QuotaExceeded) for r in results[5:7])
    assert not isinstance(results[7], QuotaExceeded | Verification)  # its own INVALID_ARGUMENT
    assert isinstance(results[8], Verification) and results[8].verifications_left == 4
    with pytest.raises(QuotaExceeded):
        await service.verify_qr(sample.qr_payload, caller=caller)


async def test_with_redis_dead_each_worker_limits_alone_until_it_is_back(
    own_redis: RedisProcess, pool, register: Register, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    store = store_on(own_redis.url, "fapiao:v1:")
    limiter = FleetRateLimiter(store, default_rate=RATE, slice_seconds=SLICE_SECONDS)
    service = service_with(pool, VerificationAttempts(store))
    caller, request = f"quota-{uuid.uuid4().hex[:8]}", request_for(register.sample())
    try:
        await limiter.admit("dave")
        await service.verify(request, caller=caller)  # counted in Redis, which is about to be lost
        own_redis.stop()
        with caplog.at_level(logging.WARNING, logger="fapiao_server.quotas"):
            started = time.monotonic()
            admitted = 0
            for _ in range(3 * int(RATE)):
                try:
                    await limiter.admit("dave")
                    admitted += 1
                except QuotaExceeded:
                    pass
            assert time.monotonic() - started < 1.0  # the breaker, not a timeout per call
            # The worker's own bucket: its burst, plus what the elapsed time refilled, plus a lapsed slice.
            assert RATE - 10 <= admitted <= RATE + RATE * (time.monotonic() - started) + RATE * SLICE_SECONDS
            left = [(await service.verify(request, caller=caller)).verifications_left for _ in range(5)]
            assert left == [4, 3, 2, 1, 0]  # this worker counts from zero: Redis's count is out of reach
            with pytest.raises(QuotaExceeded):
                await service.verify(request, caller=caller)
            own_redis.start()  # an empty Redis: what the worker counted alone is not carried over
            await asyncio.sleep(1.2)  # the breaker lets a probe through after a second
            assert (await service.verify(request, caller=caller)).verifications_left == 4
        messages = [r.getMessage() for r in caplog.records]
        assert sum("unreachable" in m for m in messages) == 1
        assert sum("answers again" in m for m in messages) == 1
    finally:
        await store.close()


async def test_counters_lapse_at_the_next_shanghai_midnight(redis_url: str, key_prefix: str) -> None:
    store = store_on(redis_url, key_prefix)
    try:
        lapse = next_business_day_start(utc_now())
        assert await VerificationAttempts(store).count(["a", "b", "a"], lapse_at=lapse) == [1, 1, 2]
        seconds = await store._redis.ttl(f"{key_prefix}quota:verify:a")
        assert abs(seconds - (lapse - utc_now()) / timedelta(seconds=1)) <= 2
    finally:
        await store.close()
