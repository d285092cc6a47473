"""The audit log in PostgreSQL: batches appended to one hash chain, listed by filters, verified a chunk at a time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ..domain.audit import GENESIS, AuditEvent, AuditOutcome, ChainCheck, ChainedEvent, ChainVerifier, chain
from ..services.ports import AuditFilter
from .database import storage_errors
from .queries import query

# Rows per round trip when verifying: large enough that round trips do not dominate, small enough that a chain of
# millions never sits in memory.
VERIFY_CHUNK = 5000


class PostgresAuditLog:
    def __init__(self, pool: AsyncConnectionPool, *, verify_chunk: int = VERIFY_CHUNK) -> None:
        self._pool = pool
        self._verify_chunk = verify_chunk

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Link ``events`` to the chain's head and insert them, in one transaction that holds the chain's lock,
        so appenders on any number of workers take turns and form one chain."""
        if not events:
            return
        with storage_errors():
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(query("lock_audit_chain"))
                row = await (await conn.execute(query("audit_chain_head"))).fetchone()
                linked = chain(events, row[0] if row else GENESIS)
                await conn.execute(query("insert_audit_events"), _columns(linked))

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


def _columns(linked: list[tuple[AuditEvent, bytes, bytes]]) -> dict[str, list[Any]]:
    return {
        "occurred_at": [e.time for e, _, _ in linked],
        "actors": [e.actor for e, _, _ in linked],
        "actor_roles": [e.actor_role for e, _, _ in linked],
        "actions": [e.action for e, _, _ in linked],
        "outcomes": [e.outcome.value for e, _, _ in linked],
        "subjects": [e.subject for e, _, _ in linked],
        "details": [json.dumps(dict(e.details), ensure_ascii=False) for e, _, _ in linked],
        "prev_hashes": [prev for _, prev, _ in linked],
        "hashes": [digest for _, _, digest in linked],
    }


def _row(row: tuple[Any, ...]) -> ChainedEvent:
    event_id, at, actor, role, action, outcome, subject, details, prev_hash, digest = row
    event = AuditEvent(
        time=at,
        actor=actor,
        actor_role=role,
        action=action,
        outcome=AuditOutcome(outcome),
        subject=subject,
        details=_details(details),
    )
    return ChainedEvent(event_id, event, bytes(prev_hash), bytes(digest))


def _details(stored: Any) -> dict[str, str]:
    """The details as written. Writers only store objects of strings; anything else was put there by hand, and is
    read under a key no writer can produce (it holds a NUL), so that row's hash cannot match."""
    if isinstance(stored, dict) and all(isinstance(v, str) for v in stored.values()):
        return stored
    return {"\x00unreadable": json.dumps(stored, ensure_ascii=False)}
