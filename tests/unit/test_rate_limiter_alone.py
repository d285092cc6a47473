"""The rate limiter without Redis (a worker on its own, or the fallback while Redis is away): leases slices
from a bucket in memory, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from fapiao_server.domain.errors import QuotaExceeded
from fapiao_server.domain.quotas import RATE_LIMIT
from fapiao_server.quotas.rate_limiter import FleetRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def admitted(limiter: FleetRateLimiter, principal: str, calls: int, rate: float | None = None) -> int:
    count = 0
    for _ in range(calls):
        try:
            await limiter.admit(principal, rate)
            count += 1
        except QuotaExceeded:
            pass
    return count


async def test_a_burst_is_admitted_then_refused_with_the_wait(clock: FakeClock) -> None:
    limiter = FleetRateLimiter(None, default_rate=20, clock=clock)
    assert await admitted(limiter, "alice", 20) == 20
    with pytest.raises(QuotaExceeded) as refused:
        await limiter.admit("alice")
    assert refused.value.quota == RATE_LIMIT
    assert refused.value.limit == 20
    assert 0 < refused.value.retry_after <= 1 / 20


async def test_tokens_come_back_at_the_rate(clock: FakeClock) -> None:
    limiter = FleetRateLimiter(None, default_rate=20, clock=clock)
    await admitted(limiter, "alice", 20)
    clock.now += 0.5
    assert await admitted(limiter, "alice", 100) == 10


async def test_each_principal_has_its_own_rate(clock: FakeClock) -> None:
    limiter = FleetRateLimiter(None, default_rate=20, clock=clock)
    assert await admitted(limiter, "alice", 100) == 20
    assert await admitted(limiter, "bob", 100, rate=50) == 50
    assert await admitted(limiter, "carol", 100, rate=2) == 2


class LaggingClock(FakeClock):
    """A worker whose event loop is slower than a slice: every look at the clock finds it later by ``lag``."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag

    def __call__(self) -> float:
        self.now += self.lag
        return self.now


async def test_a_caller_woken_late_still_spends_the_slice_it_waited_for() -> None:
    """Under load a waiter may wake after its slice lapsed; sending it round for another slice would let no call
    through for as long as the loop lags (a livelock the fuzz run once hit as 30-second timeouts)."""
    limiter = FleetRateLimiter(None, default_rate=20, slice_seconds=0.25, clock=LaggingClock(lag=0.3))
    for _ in range(5):
        await asyncio.wait_for(limiter.admit("alice"), 2)
