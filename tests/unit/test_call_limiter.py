"""Admission control's places, alone: taken at once while free, waited for in order, refused past the queue or
the wait, given back when a waiting caller leaves."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from fapiao_server.transport.errors import PUSHBACK
from fapiao_server.transport.overload import RETRY_AFTER_SECONDS, CallLimiter


async def test_free_places_are_taken_at_once_and_given_back() -> None:
    limiter = CallLimiter(max_in_flight=2, max_queued=0, max_wait=1)
    assert await limiter.enter() and await limiter.enter()
    assert not await limiter.enter(), "no place and no queue: refused"
    limiter.leave()
    assert await limiter.enter()
    assert limiter.in_flight == 2


async def test_waiting_calls_get_places_in_the_order_they_came() -> None:
    limiter = CallLimiter(max_in_flight=1, max_queued=2, max_wait=5)
    assert await limiter.enter()
    first, second = asyncio.create_task(limiter.enter()), asyncio.create_task(limiter.enter())
    await asyncio.sleep(0)
    assert limiter.queued == 2
    assert not await limiter.enter(), "the queue is full"
    limiter.leave()
    assert await first and not second.done()
    limiter.leave()
    assert await second
    assert limiter.in_flight == 1 and limiter.queued == 0


async def test_a_call_waits_no_longer_than_the_wait() -> None:
    limiter = CallLimiter(max_in_flight=1, max_queued=5, max_wait=0.05)
    assert await limiter.enter()
    assert not await limiter.enter()
    assert limiter.queued == 0, "a refused call leaves the queue"
    limiter.leave()
    assert limiter.in_flight == 0


async def test_a_caller_gone_while_waiting_takes_no_place_with_it() -> None:
    limiter = CallLimiter(max_in_flight=1, max_queued=5, max_wait=5)
    assert await limiter.enter()
    waiting = asyncio.create_task(limiter.enter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    limiter.leave()
    assert limiter.in_flight == 0 and limiter.queued == 0


def test_a_refusal_is_retryable_soon_and_says_when() -> None:
    refusal = CallLimiter(max_in_flight=1, max_queued=0, max_wait=0).refusal()
    assert refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    pushback = int(dict(refusal.trailing_metadata)[PUSHBACK])
    low, high = RETRY_AFTER_SECONDS
    assert low * 1000 <= pushback <= high * 1000
