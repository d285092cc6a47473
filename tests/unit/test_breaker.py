"""The cache's circuit breaker, driven by a fake clock."""

from __future__ import annotations

import pytest

from fapiao_server.cache.breaker import CircuitBreaker

RESET_AFTER = 5.0


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, reset_after=RESET_AFTER, clock=clock)


def open_it(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert not breaker.closed


def test_starts_closed(breaker: CircuitBreaker) -> None:
    assert breaker.closed
    assert all(breaker.allow() for _ in range(10))


def test_stays_closed_below_the_threshold(breaker: CircuitBreaker) -> None:
    breaker.failure()
    breaker.failure()
    assert breaker.closed
    assert breaker.allow()


def test_opens_after_threshold_failures_in_a_row(breaker: CircuitBreaker) -> None:
    open_it(breaker)
    assert not breaker.allow()


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.closed


def test_threshold_is_configurable(clock: FakeClock) -> None:
    breaker = CircuitBreaker(threshold=1, reset_after=RESET_AFTER, clock=clock)
    breaker.failure()
    assert not breaker.closed


def test_refuses_while_open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    for _ in range(4):
        clock.advance(RESET_AFTER / 5)
        assert not breaker.allow()


def test_allows_one_probe_after_reset_after(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(RESET_AFTER)
    assert breaker.allow()
    assert not breaker.allow()
    clock.advance(RESET_AFTER / 2)
    assert not breaker.allow()
    assert not breaker.closed


def test_successful_probe_closes(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(RESET_AFTER)
    assert breaker.allow()
    breaker.success()
    assert breaker.closed
    assert all(breaker.allow() for _ in range(5))
    # Closed again means the full threshold is needed to reopen.
    breaker.failure()
    breaker.failure()
    assert breaker.closed


def test_failed_probe_reopens_for_another_reset_after(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(RESET_AFTER)
    assert breaker.allow()
    clock.advance(1.0)
    breaker.failure()
    assert not breaker.closed
    clock.advance(RESET_AFTER - 0.5)
    assert not breaker.allow()  # counted from the probe's failure, not from the first opening
    clock.advance(0.5)
    assert breaker.allow()


def test_one_failed_probe_is_enough_to_reopen(clock: FakeClock) -> None:
    breaker = CircuitBreaker(threshold=10, reset_after=RESET_AFTER, clock=clock)
    for _ in range(10):
        breaker.failure()
    clock.advance(RESET_AFTER)
    assert breaker.allow()
    breaker.failure()
    clock.advance(RESET_AFTER / 2)
    assert not breaker.allow()


def test_lost_probe_does_not_keep_it_open_forever(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    clock.advance(RESET_AFTER)
    assert breaker.allow()  # this probe's caller is cancelled and never reports
    clock.advance(RESET_AFTER - 0.1)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()  # a fresh probe
    assert not breaker.allow()
    breaker.success()
    assert breaker.closed


def test_many_lost_probes_each_allow_the_next(breaker: CircuitBreaker, clock: FakeClock) -> None:
    open_it(breaker)
    for _ in range(5):
        clock.advance(RESET_AFTER)
        assert breaker.allow()
        assert not breaker.allow()
