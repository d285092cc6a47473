"""The Coalescer's linger: a batch that follows another waits a moment so later arrivals join it, while a batch
that starts from idle goes at once."""

from __future__ import annotations

import asyncio

import pytest

from fapiao_server.coalescing import Coalescer


class FirstBatchHeld:
    """A ``process`` that records each batch and keeps the batch [1] "at the database" until released."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.first_at_database = asyncio.Event()
        self.release_first = asyncio.Event()

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(items)
        if items == [1]:
            self.first_at_database.set()
            await self.release_first.wait()
        return items


async def test_a_batch_that_starts_from_idle_never_waits() -> None:
    async def process(items: list[int]) -> list[int]:
        return items

    batches: Coalescer[int, int] = Coalescer(process, max_batch=10, linger=10.0)
    assert await asyncio.wait_for(batches.submit([1]), timeout=1.0) == [1]
    assert await asyncio.wait_for(batches.submit([2]), timeout=1.0) == [2]  # idle again in between


@pytest.mark.parametrize(("linger", "expected"), [(0.0, [[1], [2], [3]]), (0.05, [[1], [2, 3]])])
async def test_a_following_batch_lingers_so_that_later_arrivals_join_it(
    linger: float, expected: list[list[int]]
) -> None:
    held = FirstBatchHeld()
    batches: Coalescer[int, int] = Coalescer(held, max_batch=10, linger=linger)
    first = asyncio.create_task(batches.submit([1]))
    await held.first_at_database.wait()
    second = asyncio.create_task(batches.submit([2]))  # arrives while the first batch is at the database
    await asyncio.sleep(0)
    held.release_first.set()
    assert await first == [1]
    third = asyncio.create_task(batches.submit([3]))  # arrives while the runner lingers (if it does)
    assert await second == [2]
    assert await third == [3]
    assert held.calls == expected


async def test_a_whole_batch_waiting_goes_without_lingering() -> None:
    held = FirstBatchHeld()
    batches: Coalescer[int, int] = Coalescer(held, max_batch=2, linger=10.0)
    first = asyncio.create_task(batches.submit([1]))
    await held.first_at_database.wait()
    waiting = [asyncio.create_task(batches.submit([i])) for i in (2, 3)]  # a whole batch of 2
    await asyncio.sleep(0)
    held.release_first.set()
    assert await asyncio.wait_for(asyncio.gather(*waiting), timeout=1.0) == [[2], [3]]
    assert await first == [1]
    assert held.calls == [[1], [2, 3]]
