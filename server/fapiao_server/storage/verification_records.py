"""The verification history: appended in group commits, read back a page at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ..domain.invoice import InvoiceKey, InvoiceState
from ..domain.invoice_types import InvoiceType
from ..domain.verification import VerificationChannel, VerificationOutcome, VerificationRecord
from ..services.ports import RecordFilter
from .coalescing import Coalescer
from .database import storage_errors
from .queries import query

# Ids reserved per nextval; equals the sequence's INCREMENT (migration 0002).
ID_BLOCK = 1000


class PostgresVerificationRecords:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._next_id = 0
        self._block_end = 0
        self._ids_lock = asyncio.Lock()

    async def _ids(self, count: int) -> list[int]:
        """``count`` ids from this worker's reserved blocks, reserving more as needed."""
        async with self._ids_lock:
            ids: list[int] = []
            while len(ids) < count:
                if self._next_id >= self._block_end:
                    with storage_errors():
                        async with self._pool.connection() as conn:
                            row = await (await conn.execute(query("reserve_verification_record_ids"))).fetchone()
                    assert row is not None
                    self._next_id, self._block_end = row[0], row[0] + ID_BLOCK
                take = min(count - len(ids), self._block_end - self._next_id)
                ids.extend(range(self._next_id, self._next_id + take))
                self._next_id += take
            return ids

    async def insert(self, drafts: Sequence[VerificationRecord]) -> list[VerificationRecord]:
        """Store records (their ``id`` is ignored) and return them with the ids they were given."""
        ids = await self._ids(len(drafts))
        params = {
            "ids": ids,
            "verified_at": [r.verify_time for r in drafts],
            "callers": [r.caller for r in drafts],
            "channels": [int(r.channel) for r in drafts],
            "invoice_types": [None if r.invoice_type is None else int(r.invoice_type) for r in drafts],
            "invoice_codes": [r.key.invoice_code for r in drafts],
            "invoice_numbers": [r.key.invoice_number for r in drafts],
            "issue_dates": [r.issue_date for r in drafts],
            "outcomes": [int(r.outcome) for r in drafts],
            "mismatched": [",".join(r.mismatched_fields) for r in drafts],
            "invoice_states": [None if r.invoice_state is None else int(r.invoice_state) for r in drafts],
            "invoice_ids": [r.invoice_id for r in drafts],
        }
        with storage_errors():
            async with self._pool.connection() as conn:
                await conn.execute(query("insert_verification_records"), params)
        return [replace(draft, id=record_id) for record_id, draft in zip(ids, drafts, strict=True)]

    async def list(
        self, caller: str, where: RecordFilter, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[VerificationRecord]:
        """Up to ``limit`` of the caller's records, newest first, strictly after the ``after`` cursor."""
        params = {
            "caller": caller,
            "invoice_code": where.invoice_code,
            "invoice_number": where.invoice_number,
            "outcome": None if where.outcome is None else int(where.outcome),
            "start_time": where.start_time,
            "end_time": where.end_time,
            "after_time": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        }
        with storage_errors():
            async with self._pool.connection() as conn:
                cursor = await conn.execute(query("list_verification_records"), params)
                return [_record(row) for row in await cursor.fetchall()]


def _record(row: tuple[Any, ...]) -> VerificationRecord:
    record_id, at, caller, channel, kind, code, number, day, outcome, mismatched, state, invoice_id = row
    return VerificationRecord(
        id=record_id,
        verify_time=at,
        caller=caller,
        channel=VerificationChannel(channel),
        key=InvoiceKey(code, number),
        invoice_type=None if kind is None else InvoiceType(kind),
        issue_date=day,
        outcome=VerificationOutcome(outcome),
        mismatched_fields=tuple(mismatched),
        invoice_state=None if state is None else InvoiceState(state),
        invoice_id=invoice_id,
    )


class GroupCommitRecorder:
    """Appends records in group commits: every caller waits for the commit of the batch its records are in.

    A verification is answered only once its record is durable, yet concurrent verifications share one INSERT
    instead of paying a round trip and a commit each.
    """

    def __init__(self, store: PostgresVerificationRecords, *, max_batch: int = 5000) -> None:
        self._batches: Coalescer[VerificationRecord, VerificationRecord] = Coalescer(store.insert, max_batch=max_batch)

    async def append(self, drafts: Sequence[VerificationRecord]) -> list[VerificationRecord]:
        """Store the records; returns them with their ids once committed (or raises what the store raised)."""
        return await self._batches.submit(drafts)

    async def close(self) -> None:
        """Wait until everything appended so far is written."""
        await self._batches.drain()
