"""The audit log in PostgreSQL: batches appended to one hash chain, listed by filters, verified a chunk at a time;
and the outbox that changes write their audit events to in their own transaction, moved into the chain by the
next append of any worker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..domain.audit import GENESIS, AuditEvent, AuditOutcome, ChainCheck, ChainedEvent, ChainVerifier, chain
from ..services.ports import AuditFilter
from .database import storage_errors
from .queries import query

# Rows per round trip when verifying: large enough that round trips do not dominate, small enough that a chain of
# millions never sits in memory.
VERIFY_CHUNK = 5000
# Outbox rows one append moves into the chain at most; the writer comes back for more while it finds a full batch.
OUTBOX_BATCH = 1000


async def record_with_change(conn: psycopg.AsyncConnection[Any], events: Sequence[AuditEvent]) -> None:
    """Write ``events`` (cleaned) to the outbox on ``conn``, inside the transaction of the change they record: they
    commit, or vanish, with it."""
    if events:
        await conn.execute(query("insert_audit_outbox"), _event_columns([event.cleaned() for event in events]))


class PostgresAuditLog:
    def __init__(self, pool: AsyncConnectionPool, *, verify_chunk: int = VERIFY_CHUNK) -> None:
        self._pool = pool
        self._verify_chunk = verify_chunk

    async def append(self, events: Sequence[AuditEvent]) -> bool:
        """Link the outbox's oldest rows (up to OUTBOX_BATCH), then ``events``, to the chain's head and insert
        them, in one transaction that holds the chain's lock, so appenders on any number of workers take turns and
        form one chain. True when it moved a full batch from the outbox: there may be more."""
        with storage_errors():
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(query("lock_audit_chain"))
                taken = await (await conn.execute(query("take_audit_outbox"), {"limit": OUTBOX_BATCH})).fetchall()
                pending = [*(_event(row) for row in sorted(taken)), *events]
                if pending:
                    row = await (await conn.execute(query("audit_chain_head"))).fetchone()
                    linked = chain(pending, row[0] if row else GENESIS)
                    await conn.execute(query("insert_audit_events"), _columns(linked))
        return len(taken) == OUTBOX_BATCH

    async def list(self, where: AuditFilter, *, limit: int, after_id: int | None) -> list[ChainedEvent]:
        params = {
            "actor": where.actor,
            "action": where.action,
            "outcome": "" if where.outcome is None else where.outcome.value,
            "start_time": where.start_time,
            "end_time": where.end_time,
            "after_id": after_id,
            "limit": limit,
        }
        with storage_errors():
            async with self._pool.connection() as conn:
                cursor = await conn.execute(query("list_audit_events"), params)
                return [_row(row) for row in await cursor.fetchall()]

    async def verify(self) -> ChainCheck:
        """Walk the chain in id order, ``verify_chunk`` rows per query, stopping at the first broken row."""
        verifier = ChainVerifier()
        after = 0
        with storage_errors():
            async with self._pool.connection() as conn:
                while True:
                    cursor = await conn.execute(
                        query("audit_chain_chunk"), {"after_id": after, "limit": self._verify_chunk}
                    )
                    rows = [_row(row) for row in await cursor.fetchall()]
                    if not verifier.feed(rows) or len(rows) < self._verify_chunk:
                        return verifier.result
                    after = rows[-1].id


def _event_columns(events: Sequence[AuditEvent]) -> dict[str, list[Any]]:
    """One array per column of the events, as insert_audit_outbox and insert_audit_events take them."""
    return {
        "occurred_at": [e.time for e in events],
        "actors": [e.actor for e in events],
        "actor_roles": [e.actor_role for e in events],
        "actions": [e.action for e in events],
        "outcomes": [e.outcome.value for e in events],
        "subjects": [e.subject for e in events],
        "details": [json.dumps(dict(e.details), ensure_ascii=False) for e in events],
    }


def _columns(linked: list[tuple[AuditEvent, bytes, bytes]]) -> dict[str, list[Any]]:
    return {
        **_event_columns([event for event, _, _ in linked]),
        "prev_hashes": [prev for _, prev, _ in linked],
        "hashes": [digest for _, _, digest in linked],
    }


def _event(row: tuple[Any, ...]) -> AuditEvent:
    """The event of a row (id first, then the event's columns) of audit_events or audit_outbox."""
    _, at, actor, role, action, outcome, subject, details = row[:8]
    return AuditEvent(time=at, actor=actor, actor_role=role, action=action, outcome=AuditOutcome(outcome),
                      subject=subject, details=_details(details))  # fmt: skip


def _row(row: tuple[Any, ...]) -> ChainedEvent:
    return ChainedEvent(row[0], _event(row), bytes(row[8]), bytes(row[9]))


def _details(stored: Any) -> dict[str, str]:
    """The details as written. Writers only store objects of strings; anything else was put there by hand, and is
    read under a key no writer can produce (it holds a NUL), so that row's hash cannot match."""
    if isinstance(stored, dict) and all(isinstance(v, str) for v in stored.values()):
        return stored
    return {"\x00unreadable": json.dumps(stored, ensure_ascii=False)}
