"""The audit log against real PostgreSQL: one chain however many workers append at once, a database that refuses
to change or remove rows, and a check that names the row someone changed or removed behind its back anyway."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from fapiao_server.domain.audit import AuditEvent, AuditOutcome
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.errors import InvalidArgument
from fapiao_server.services.audit import AuditLog
from fapiao_server.services.ports import AuditFilter
from fapiao_server.storage.audit import PostgresAuditLog
from fapiao_server.storage.migrations import migrate
from tests.support.services import fresh_database

VOID = "/fapiao.v1.InvoiceService/VoidInvoice"
ISSUE = "/fapiao.v1.InvoiceService/IssueInvoice"


@pytest.fixture
def audit_url(pg_admin_url: str) -> Iterator[str]:
    """A database of this test's own: tests here tamper with the chain, which must not reach other tests."""
    with fresh_database(pg_admin_url, "audit") as url:
        migrate(url, today=business_date(utc_now()))
        yield url


async def open_pool(url: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    return pool


@pytest.fixture
async def store(audit_url: str) -> AsyncIterator[PostgresAuditLog]:
    pool = await open_pool(audit_url)
    try:
        # Small chunks, so that verification crosses chunk boundaries even on short chains.
        yield PostgresAuditLog(pool, verify_chunk=7)
    finally:
        await pool.close()


def event(
    n: int, *, actor: str = "acme-erp", action: str = VOID, outcome: AuditOutcome = AuditOutcome.OK
) -> AuditEvent:
    return AuditEvent(
        time=utc_now(),
        actor=actor,
        action=action,
        outcome=outcome,
        actor_role="TAXPAYER",
        subject=f"invoices/{n}",
        details={"request_id": f"req-{n}", "note": "含中文"},
    )


def tamper(url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    """Change the table as a superuser would: with the append-only triggers switched off for this transaction."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(statement, params)


def ids(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM audit_events ORDER BY id")]


async def test_appended_events_read_back_exactly_and_the_chain_verifies(store: PostgresAuditLog) -> None:
    written = [event(n) for n in range(20)]
    await store.append(written[:12])
    await store.append(written[12:])
    rows = await store.list(AuditFilter(), limit=100, after_id=None)
    assert [r.event for r in reversed(rows)] == written
    check = await store.verify()
    assert check.intact and check.checked == 20 and check.last_id == rows[0].id and check.head == rows[0].hash


async def test_an_empty_log_verifies(store: PostgresAuditLog) -> None:
    check = await store.verify()
    assert check.intact and check.checked == 0 and check.last_id is None


async def test_two_workers_appending_at_once_form_one_chain(audit_url: str) -> None:
    pools = [await open_pool(audit_url), await open_pool(audit_url)]
    try:
        logs = [AuditLog(PostgresAuditLog(pool), max_batch=50) for pool in pools]

        async def burst(log: AuditLog, worker: int) -> None:
            for n in range(600):
                log.record(event(n, actor=f"worker-{worker}"))
                if n % 25 == 0:
                    await asyncio.sleep(0)  # let the writer take what has queued, as RPCs arriving over time do

        await asyncio.gather(burst(logs[0], 0), burst(logs[1], 1))
        await asyncio.gather(*(log.close() for log in logs))
        check = await PostgresAuditLog(pools[0], verify_chunk=100).verify()
        assert check.intact, check
        assert check.checked == 1200
        with psycopg.connect(audit_url) as conn:
            actors = dict(conn.execute("SELECT actor, count(*) FROM audit_events GROUP BY actor").fetchall())
        assert actors == {"worker-0": 600, "worker-1": 600}
    finally:
        for pool in pools:
            await pool.close()


async def test_the_database_refuses_to_change_or_remove_rows(store: PostgresAuditLog, audit_url: str) -> None:
    await store.append([event(1)])
    with psycopg.connect(audit_url, autocommit=True) as conn:
        for statement in (
            "UPDATE audit_events SET actor = 'someone else'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT actor FROM audit_events").fetchall() == [("acme-erp",)]


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_events SET actor = 'someone else' WHERE id = %s",
        "UPDATE audit_events SET outcome = 'OK', subject = 'invoices/1' WHERE id = %s",
        "UPDATE audit_events SET occurred_at = occurred_at + interval '1 microsecond' WHERE id = %s",
        'UPDATE audit_events SET details = details || \'{"note": "changed"}\' WHERE id = %s',
        "UPDATE audit_events SET details = '{\"note\": 1}' WHERE id = %s",
    ],
)
async def test_a_row_altered_in_postgresql_is_named(store: PostgresAuditLog, audit_url: str, change: str) -> None:
    await store.append([event(n, outcome=AuditOutcome.DENIED) for n in range(30)])
    target = ids(audit_url)[17]
    tamper(audit_url, change, (target,))
    check = await store.verify()
    assert not check.intact
    assert check.first_broken_id == target
    assert check.checked == 18


async def test_a_row_deleted_in_postgresql_is_detected_at_the_next_row(store: PostgresAuditLog, audit_url: str) -> None:
    await store.append([event(n) for n in range(30)])
    rows = ids(audit_url)
    tamper(audit_url, "DELETE FROM audit_events WHERE id = %s", (rows[9],))
    check = await store.verify()
    assert check.first_broken_id == rows[10] and check.last_id == rows[8]
    assert "prev_hash" in check.problem


async def test_a_row_inserted_in_postgresql_is_detected(store: PostgresAuditLog, audit_url: str) -> None:
    await store.append([event(n) for n in range(10)])
    tamper(
        audit_url,
        "INSERT INTO audit_events (occurred_at, actor, action, outcome, prev_hash, hash)"
        " SELECT now(), 'intruder', 'x', 'OK', hash, hash FROM audit_events ORDER BY id DESC LIMIT 1",
    )
    intruder = ids(audit_url)[-1]
    check = await store.verify()
    assert check.first_broken_id == intruder and check.checked == 11


async def test_listing_filters_and_pages(store: PostgresAuditLog) -> None:
    log = AuditLog(store)
    before = utc_now()
    await store.append(
        [event(n, actor="alice") for n in range(5)]
        + [event(n, actor="bob", action=ISSUE, outcome=AuditOutcome.FAILED) for n in range(5, 8)]
    )
    after = utc_now()
    alice = await log.list(AuditFilter(actor="alice"), page_size=2, page_token="")
    seen = list(alice.items)
    while alice.next_page_token:
        alice = await log.list(AuditFilter(actor="alice"), page_size=2, page_token=alice.next_page_token)
        seen += alice.items
    assert [r.event.subject for r in seen] == [f"invoices/{n}" for n in range(4, -1, -1)]
    failed = await log.list(AuditFilter(outcome=AuditOutcome.FAILED, action=ISSUE), page_size=0, page_token="")
    assert {r.event.actor for r in failed.items} == {"bob"} and len(failed.items) == 3
    window = AuditFilter(start_time=before, end_time=after + timedelta(microseconds=1))
    assert len((await log.list(window, page_size=100, page_token="")).items) == 8
    assert (await log.list(AuditFilter(end_time=before), page_size=100, page_token="")).items == []


async def test_a_page_token_continues_only_its_own_listing(store: PostgresAuditLog) -> None:
    log = AuditLog(store)
    await store.append([event(n, actor="alice") for n in range(3)])
    page = await log.list(AuditFilter(actor="alice"), page_size=1, page_token="")
    with pytest.raises(InvalidArgument) as refused:
        await log.list(AuditFilter(actor="bob"), page_size=1, page_token=page.next_page_token)
    assert refused.value.violations[0].field == "page_token"
    with pytest.raises(InvalidArgument) as backwards:
        await log.list(AuditFilter(start_time=utc_now(), end_time=utc_now() - timedelta(1)), page_size=1, page_token="")
    assert backwards.value.violations[0].field == "end_time"


async def test_events_recorded_while_the_table_is_away_are_written_once_it_is_back(
    store: PostgresAuditLog, audit_url: str
) -> None:
    log = AuditLog(store)
    log.record(event(0))
    await log.flush()
    with psycopg.connect(audit_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_events RENAME TO audit_events_away")
        try:
            for n in range(1, 6):
                log.record(event(n))
            await asyncio.sleep(0.3)  # the writer fails, keeps the events, and tries again
            assert log.pending == 5
        finally:
            conn.execute("ALTER TABLE audit_events_away RENAME TO audit_events")
    await asyncio.wait_for(log.flush(), 10)
    assert log.pending == 0
    check = await store.verify()
    assert check.intact and check.checked == 6


async def test_odd_events_are_stored_cleaned_and_still_verify(store: PostgresAuditLog) -> None:
    log = AuditLog(store)
    log.record(
        AuditEvent(
            time=utc_now(),
            actor="nul\x00actor",
            action="'; DROP TABLE audit_events; --",
            outcome=AuditOutcome.FAILED,
            subject="x" * 100_000,
            details={"\x00": "\x00", "emoji": "🧾"},
        )
    )
    await log.close()
    rows = await store.list(AuditFilter(), limit=10, after_id=None)
    assert rows[0].event.actor == "nul\ufffdactor" and len(rows[0].event.subject) == 256
    assert (await store.verify()).intact


def documented_check(url: str) -> tuple[int | None, bytes]:
    """docs/audit.md's recipe, from the page alone (SHA-256 and the table, nothing of fapiao_server): the first id
    that does not check, and the last good hash."""

    def item(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(4, "big") + data

    head = bytes(32)
    with psycopg.connect(url) as conn:
        for id_, at, actor, role, action, outcome, subject, details, prev, digest in conn.execute(
            "SELECT id, occurred_at AT TIME ZONE 'UTC', actor, actor_role, action, outcome, subject, details,"
            " prev_hash, hash FROM audit_events ORDER BY id"
        ):
            fields = ("fapiao.audit.v1", at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), actor, role, action, outcome, subject)
            body = [item(x) for x in (*fields, str(len(details)))]
            body += [item(x) for k, v in sorted(details.items(), key=lambda kv: kv[0].encode()) for x in (k, v)]
            if bytes(prev) != head or hashlib.sha256(head + b"".join(body)).digest() != bytes(digest):
                return id_, head
            head = bytes(digest)
    return None, head


async def test_the_documented_rule_rechecks_the_chain_independently(store: PostgresAuditLog, audit_url: str) -> None:
    log = AuditLog(store)
    for n in range(12):
        log.record(event(n, outcome=AuditOutcome.FAILED if n % 3 else AuditOutcome.OK))
    log.record(AuditEvent(time=utc_now(), actor="a", action="auth.login", outcome=AuditOutcome.UNAUTHENTICATED,
                          details={"é": "1", "z": "2", "a": "3"}))  # fmt: skip
    await log.close()
    ours = await store.verify()
    assert documented_check(audit_url) == (None, ours.head)
    target = ids(audit_url)[5]
    tamper(audit_url, "UPDATE audit_events SET subject = 'invoices/0' WHERE id = %s", (target,))
    assert documented_check(audit_url)[0] == target == (await store.verify()).first_broken_id
