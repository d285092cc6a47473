"""Natural batching against the real database: concurrent lookups share queries, every caller gets its own
answer, and a failing batch fails its callers without stopping later batches."""

from __future__ import annotations

import asyncio

import pytest

from fapiao_server.coalescing import Coalescer
from fapiao_server.domain.invoice import InvoiceKey
from fapiao_server.storage.invoices import PostgresInvoices
from tests.conftest import Register
from tests.support.keys import keyring_of


async def test_concurrent_lookups_share_queries_and_each_gets_its_answer(pool, register: Register) -> None:  # type: ignore[no-untyped-def]
    repository = PostgresInvoices(pool, keyring_of(pool))
    queries = 0
    real = repository.get_many

    async def counted(keys):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return await real(keys)

    repository.get_many = counted  # type: ignore[method-assign]
    samples = register.samples(limit=40)
    keys = [InvoiceKey(s.invoice_code, s.invoice_number) for s in samples] + [InvoiceKey("", "26119000000000000001")]
    answers = await asyncio.gather(*(repository.get(key) for key in keys * 3))
    assert [a.id if a else None for a in answers] == ([s.id for s in samples] + [None]) * 3
    assert queries < 10, f"{queries} queries for {len(keys) * 3} concurrent lookups"


async def test_a_failing_batch_fails_its_callers_and_later_batches_still_run() -> None:
    calls: list[list[int]] = []

    async def process(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0)
        if 13 in items:
            raise ValueError("unlucky")
        return [i * 2 for i in items]

    batches: Coalescer[int, int] = Coalescer(process, max_batch=3)
    first = asyncio.create_task(batches.submit([13]))
    for _ in range(3):  # let the first batch (just [13]) reach `process` before the others arrive
        await asyncio.sleep(0)
    assert calls == [[13]]
    rest = [asyncio.create_task(batches.submit([i])) for i in range(5)]
    with pytest.raises(ValueError):
        await first
    assert [await task for task in rest] == [[0], [2], [4], [6], [8]]
    later = calls[1:]
    assert all(len(batch) <= 3 for batch in later)
    assert sorted(i for batch in later for i in batch) == [0, 1, 2, 3, 4]
