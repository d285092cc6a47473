"""The verification history: group commits, per-caller listing with filters, keyset pages bound to the query."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from fapiao_server.domain.errors import InvalidArgument, Unavailable
from fapiao_server.domain.invoice import InvoiceKey
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.verification import VerificationChannel, VerificationOutcome, VerificationRecord
from fapiao_server.services.ports import RecordFilter
from fapiao_server.services.verification import VerificationService
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.verification_records import GroupCommitRecorder, PostgresVerificationRecords
from tests.support.keys import keyring_of


class CountingStore(PostgresVerificationRecords):
    """The real store, counting how many writes (COPYs) it made."""

    writes = 0

    async def insert(self, records: Sequence[VerificationRecord]) -> list[None]:
        self.writes += 1
        return await super().insert(records)


def _record(record_id: int, caller: str, number: str, outcome: VerificationOutcome, at: datetime) -> VerificationRecord:
    return VerificationRecord(
        id=record_id,
        verify_time=at,
        caller=caller,
        channel=VerificationChannel.SINGLE,
        key=InvoiceKey("", number),
        invoice_type=None,
        issue_date=date(2026, 1, 5),
        outcome=outcome,
    )


async def test_concurrent_appends_share_commits_and_get_distinct_ids(pool) -> None:  # type: ignore[no-untyped-def]
    store = CountingStore(pool)
    recorder = GroupCommitRecorder(store)
    caller = f"group-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    ids = await recorder.reserve_ids(300)
    assert len(set(ids)) == 300 and all(i > 0 for i in ids)
    records = [_record(ids[i], caller, f"2611{i:016d}", VerificationOutcome.NOT_FOUND, now) for i in range(300)]
    await asyncio.gather(*(recorder.append([r]) for r in records))
    assert store.writes < 30, "300 concurrent appends should share a handful of commits"
    listed = await store.list(caller, RecordFilter(), limit=1000, after=None)
    assert sorted(r.id for r in listed) == sorted(ids)


async def test_a_failing_store_fails_every_waiter_instead_of_hanging(database_url: str) -> None:
    from psycopg_pool import AsyncConnectionPool

    closed = AsyncConnectionPool(database_url, min_size=1, max_size=1, timeout=1, open=False)
    recorder = GroupCommitRecorder(PostgresVerificationRecords(closed))
    now = datetime.now(UTC)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(
                recorder.append([_record(i + 1, "x", f"2611{i:016d}", VerificationOutcome.MATCH, now)])
                for i in range(5)
            ),
            return_exceptions=True,
        ),
        timeout=10,
    )
    assert all(isinstance(r, Unavailable) for r in results), results


@pytest.fixture
async def history(pool):  # type: ignore[no-untyped-def]
    """120 records of one caller over 120 minutes, outcomes cycling MATCH / MISMATCH / NOT_FOUND."""
    store = PostgresVerificationRecords(pool)
    caller = f"history-{uuid.uuid4().hex[:8]}"
    start = datetime(2026, 11, 20, 8, tzinfo=UTC)
    outcomes = list(VerificationOutcome)
    ids = await store.reserve_ids(121)
    minutes = [start + timedelta(minutes=i) for i in range(120)]
    await store.insert([_record(ids[i], caller, f"2611{i % 7:016d}", outcomes[i % 3], minutes[i]) for i in range(120)])
    await store.insert([_record(ids[120], "someone-else", f"2611{0:016d}", VerificationOutcome.MATCH, start)])
    service = VerificationService(PostgresInvoices(pool, keyring_of(pool)), GroupCommitRecorder(store), store)
    return service, caller, start


async def _all_pages(
    service: VerificationService, caller: str, where: RecordFilter, size: int
) -> list[VerificationRecord]:
    records, token = [], ""
    while True:
        page = await service.list_records(caller, where, page_size=size, page_token=token)
        assert len(page.records) <= size
        records += page.records
        token = page.next_page_token
        if not token:
            return records


async def test_pages_walk_the_whole_history_newest_first(history) -> None:  # type: ignore[no-untyped-def]
    service, caller, _ = history
    records = await _all_pages(service, caller, RecordFilter(), 50)
    assert len(records) == 120 and len({r.id for r in records}) == 120
    times = [r.verify_time for r in records]
    assert times == sorted(times, reverse=True)
    assert all(r.caller == caller for r in records)
    assert all(r.mismatched_fields == () for r in records)


async def test_filters_combine(history) -> None:  # type: ignore[no-untyped-def]
    service, caller, start = history
    where = RecordFilter(
        invoice_number=f"2611{3:016d}",
        outcome=VerificationOutcome.MATCH,
        start_time=start + timedelta(minutes=10),
        end_time=start + timedelta(minutes=100),
    )
    records = await _all_pages(service, caller, where, 3)
    expected = [i for i in range(10, 100) if i % 7 == 3 and i % 3 == 0]
    assert sorted(int((r.verify_time - start).total_seconds() // 60) for r in records) == expected


async def test_a_page_token_only_continues_its_own_query(history) -> None:  # type: ignore[no-untyped-def]
    service, caller, _ = history
    page = await service.list_records(caller, RecordFilter(), page_size=10, page_token="")
    with pytest.raises(InvalidArgument) as refused:
        await service.list_records(
            caller, RecordFilter(outcome=VerificationOutcome.MATCH), page_size=10, page_token=page.next_page_token
        )
    assert refused.value.violations[0].field == "page_token"
    with pytest.raises(InvalidArgument):
        await service.list_records("someone-else", RecordFilter(), page_size=10, page_token=page.next_page_token)


@pytest.mark.parametrize("count", [3, 200], ids=["insert", "copy"])
async def test_small_and_large_group_commits_store_the_same_rows(pool, count: int) -> None:  # type: ignore[no-untyped-def]
    store = PostgresVerificationRecords(pool)
    caller = f"paths-{uuid.uuid4().hex[:8]}"
    at = datetime(2026, 11, 21, 9, tzinfo=UTC)
    ids = await store.reserve_ids(count)
    records = [
        dataclasses.replace(
            _record(ids[i], caller, f"2611{i:016d}", VerificationOutcome.MISMATCH, at + timedelta(seconds=i)),
            invoice_type=InvoiceType.DIGITAL_SPECIAL,
            mismatched_fields=("issue_date", "total_fen")[: 1 + i % 2],
            invoice_id=i,
        )
        for i in range(count)
    ]
    await store.insert(records)
    listed = await store.list(caller, RecordFilter(), limit=1000, after=None)
    assert sorted(listed, key=lambda r: r.id) == records
