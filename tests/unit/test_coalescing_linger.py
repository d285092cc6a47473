"""The Coalescer's linger: a batch that follows another waits a moment so later arrivals join it, while a batch
that starts from idle goes at once."""

from __future__ import annotations

import asyncio

import pytest

from fapiao_server.coalescing import Coalescer


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
    calls: list[list[int]] = []
    first_at_database = asyncio.Event()
    release_first = asyncio.Event()

    async def process(items: list[int]) -> list[int]:
        calls.append(items)
        if items == [1]:
            first_at_database.set()
            await release_first.wait()
        return items

    batches: Coalescer[int, int] = Coalescer(process, max_batch=10, linger=linger)
    first = asyncio.create_task(batches.submit([1]))
    await first_at_database.wait()
    second = asyncio.create_task(batches.submit([2]))  # arrives while the first batch is at the database
    await asyncio.sleep(0)
    release_first.set()
    assert await first == [1]
    third = asyncio.create_task(batches.submit([3]))  # arrives while the runner lingers (if it does)
    assert await second == [2]
    assert await third == [3]
    assert calls == expected


async def test_a_whole_batch_waiting_goes_without_lingering() -> None:
    calls: list[list[int]] = []
    first_at_database = asyncio.Event()
    release_first = asyncio.Event()

    async def process(items: list[int]) -> list[int]:
        calls.append(items)
        if items == [1]:
            first_at_database.set()
            await release_first.wait()
        return items

    batches: Coalescer[int, int] = Coalescer(process, max_batch=2, linger=10.0)
    first = asyncio.create_task(batches.submit([1]))
    await first_at_database.wait()
    waiting = [asyncio.create_task(batches.submit([i])) for i in (2, 3)]  # a whole batch of 2
    await asyncio.sleep(0)
    release_first.set()
    assert await asyncio.wait_for(asyncio.gather(*waiting), timeout=1.0) == [[2], [3]]
    assert await first == [1]
    assert calls == [[1], [2, 3]]
