"""The lifecycle on real PostgreSQL: the 72-hour sweep (once, however many workers sweep at the same time),
changes racing for one invoice, and the guards the database keeps by itself whatever the code does - the
reversal ledger, one open form per invoice, and an append-only history."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from fapiao_server.cache.invoices import CachedInvoices
from fapiao_server.cache.near import NearCache
from fapiao_server.cache.redis import RedisCache
from fapiao_server.domain.access import EVERYTHING, Principal, Role
from fapiao_server.domain.calendar import utc_now
from fapiao_server.domain.errors import Aborted, DomainError, FailedPrecondition
from fapiao_server.domain.events import SYSTEM_ACTOR, EventType
from fapiao_server.domain.invoice import Invoice, InvoiceState, Party
from fapiao_server.domain.issuing import IssueRequest, LineRequest
from fapiao_server.domain.lifecycle import ReversalItem
from fapiao_server.domain.red_letter import CONFIRMATION_WINDOW, FormState, RedLetterForm, RedLetterReason, TradeParty
from fapiao_server.services.lifecycle import LifecycleService
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.issuing import PostgresIssuer
from fapiao_server.storage.lifecycle import PostgresLifecycle
from tests.support.invoices import new_request_id
from tests.support.invoices import tax_id as new_tax_id
from tests.support.keys import keyring_of

SELLER, BUYER = TradeParty.SELLER, TradeParty.BUYER
# The tax ids this module's taxpayers use: its one principal acts for all of them, as seller and as buyer.
_OURS: set[str] = set()


def tax_id(division: str = "110108") -> str:
    _OURS.add(found := new_tax_id(division))
    return found


def actor() -> Principal:
    return Principal("tester", Role.TAXPAYER, frozenset(_OURS))


RETURNED = RedLetterReason.GOODS_RETURNED


def lifecycle(pool: Any, clock: Callable[[], datetime] = utc_now) -> LifecycleService:
    """The lifecycle use cases on the test database, as a worker wires them (without caches)."""
    return LifecycleService(
        PostgresLifecycle(pool, keyring_of(pool)), PostgresIssuer(pool, keyring_of(pool)), clock=clock
    )


async def issue(service: LifecycleService, kind: int, *, seller: str | None = None) -> Invoice:
    request = IssueRequest(
        invoice_type=kind,
        seller=Party(seller or tax_id(), "北京测试科技有限公司"),
        buyer=Party(tax_id("310115"), "上海采购有限公司"),
        lines=(LineRequest("*计算机设备*服务器", 100_000, 1300), LineRequest("*信息技术服务*运维", 2_500, 600)),
    )
    return await service.issue(request, actor=actor(), request_id=new_request_id())


async def form(
    service: LifecycleService, invoice: Invoice, *, by: TradeParty = SELLER, items: tuple[ReversalItem, ...] = ()
) -> RedLetterForm:
    return await service.create_form(
        invoice.id, reason=RETURNED, initiator=by, items=items, remarks="", actor=actor(),
        request_id=new_request_id(),
    )  # fmt: skip


async def certify(service: LifecycleService, invoice: Invoice) -> Invoice:
    return await service.certify(invoice.id, actor=actor(), request_id=new_request_id())


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def form_events(url: str, form_id: int) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT event_type, actor, state_before, state_after, form_state_before, form_state_after, reason"
            " FROM invoice_events WHERE form_id = %s ORDER BY xid, id",
            (form_id,),
        ).fetchall()


def backdate(url: str, form_id: int, hours: float) -> None:
    """Time travel in the register: the form was entered ``hours`` earlier than it was."""
    with connect(url) as conn:
        conn.execute(
            "UPDATE red_letter_forms SET created_at = created_at - make_interval(secs => %(s)s),"
            " expires_at = expires_at - make_interval(secs => %(s)s) WHERE id = %(id)s",
            {"s": hours * 3600, "id": form_id},
        )


# --- the 72-hour expiry --------------------------------------------------------------------------------------


async def test_the_sweep_voids_an_unanswered_form_once_however_many_sweep(pool: Any, database_url: str) -> None:
    service = lifecycle(pool)
    invoice = await certify(service, await issue(service, 1))
    awaiting = await form(service, invoice)
    assert awaiting.state is FormState.AWAITING_BUYER
    assert awaiting.expire_time == awaiting.create_time + CONFIRMATION_WINDOW
    await service.expire_forms()
    assert (await service.get_form(awaiting.id, EVERYTHING)).state is FormState.AWAITING_BUYER  # not yet 72 hours

    backdate(database_url, awaiting.id, 72.5)
    workers = [lifecycle(pool) for _ in range(4)]
    await asyncio.gather(*(worker.expire_forms() for worker in workers))
    await asyncio.gather(*(worker.expire_forms() for worker in workers))
    with connect(database_url) as conn:
        assert conn.execute("SELECT state FROM red_letter_forms WHERE id = %s", (awaiting.id,)).fetchone() == (7,)
    assert form_events(database_url, awaiting.id) == [
        (EventType.RED_LETTER_FORM_CREATED, "tester", 1, 1, None, 2, ""),
        (EventType.RED_LETTER_FORM_EXPIRED, SYSTEM_ACTOR, 1, 1, 2, 7, "not confirmed within 72 hours"),
    ]
    # The expired form no longer holds the invoice.
    assert (await form(service, invoice)).state is FormState.AWAITING_BUYER


async def test_a_form_reads_void_at_exactly_72_hours(pool: Any) -> None:
    service = lifecycle(pool)
    awaiting = await form(service, await issue(service, 10), by=BUYER)
    assert awaiting.state is FormState.AWAITING_SELLER
    deadline = awaiting.create_time + timedelta(hours=72)
    before = lifecycle(pool, clock=lambda: deadline - timedelta(microseconds=1))
    at = lifecycle(pool, clock=lambda: deadline)
    assert (await before.get_form(awaiting.id, EVERYTHING)).state is FormState.AWAITING_SELLER
    assert (await at.get_form(awaiting.id, EVERYTHING)).state is FormState.EXPIRED
    with pytest.raises(FailedPrecondition) as refused:
        await at.confirm_form(awaiting.id, SELLER, actor=actor(), request_id=new_request_id())
    assert refused.value.reason == "FORM_EXPIRED"
    confirmed = await before.confirm_form(awaiting.id, SELLER, actor=actor(), request_id=new_request_id())
    assert confirmed.state is FormState.CONFIRMED
    # Confirmed in time, it never expires.
    assert (
        await lifecycle(pool, clock=lambda: deadline + timedelta(days=30)).get_form(awaiting.id, EVERYTHING)
    ).state is (FormState.CONFIRMED)


async def test_an_expired_form_frees_its_invoice_at_once(pool: Any) -> None:
    """No waiting for the sweep: the next change voids the stale form (07, by the system) in its own transaction."""
    service = lifecycle(pool)
    invoice = await issue(service, 10)
    awaiting = await form(service, invoice, by=BUYER)
    later = lifecycle(pool, clock=lambda: awaiting.create_time + CONFIRMATION_WINDOW + timedelta(minutes=1))
    assert (await later.get_form(awaiting.id, EVERYTHING)).state is FormState.EXPIRED
    _, answers = await later.allowed_actions(invoice.id, EVERYTHING)
    assert answers[2].refusal is None  # CREATE_RED_LETTER_FORM
    assert (await form(later, invoice)).state is FormState.NO_CONFIRMATION_NEEDED
    assert (
        await service.get_form(awaiting.id, EVERYTHING)
    ).state is FormState.EXPIRED  # written down, not only read so
    history = (await later.list_events(invoice.id, EVERYTHING, page_size=50, page_token="")).items
    expiries = [e for e in history if e.event_type is EventType.RED_LETTER_FORM_EXPIRED]
    assert [(e.form_id, e.actor) for e in expiries] == [(awaiting.id, "system")]


# --- changes racing for one invoice -------------------------------------------------------------------------


async def outcomes(*calls: Any) -> list[str]:
    """Each concurrent call's result: 'ok' or the reason it was refused."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, DomainError):
            raise result
    return sorted(result.reason if isinstance(result, DomainError) else "ok" for result in results)


async def test_racing_changes_to_one_invoice_happen_one_after_another(pool: Any, database_url: str) -> None:
    service = lifecycle(pool)
    contested = await issue(service, 4)
    assert await outcomes(form(service, contested), form(service, contested, by=BUYER)) == [
        "RED_LETTER_FORM_OPEN",
        "ok",
    ]
    paper = await issue(service, 4)
    voiding = service.void(paper.id, reason="", actor=actor(), request_id=new_request_id())
    assert (await outcomes(voiding, form(service, paper)))[1] == "ok"

    open_form = await form(service, await issue(service, 4))

    def issuing() -> Any:
        return service.issue_red(open_form.id, actor=actor(), request_id=new_request_id())

    assert await outcomes(issuing(), issuing(), issuing()) == ["FORM_ALREADY_ISSUED", "FORM_ALREADY_ISSUED", "ok"]
    with connect(database_url) as conn:
        reds = conn.execute(
            "SELECT count(*) FROM invoices WHERE original_invoice_id = %s", (open_form.original_invoice.id,)
        ).fetchone()
    assert reds == (1,)


async def test_one_request_id_sent_twice_at_once_changes_once(pool: Any, database_url: str) -> None:
    service = lifecycle(pool)
    invoice = await issue(service, 4)
    request_id = new_request_id()
    results = await asyncio.gather(
        *(service.void(invoice.id, reason="重复", actor=actor(), request_id=request_id) for _ in range(3))
    )
    assert {r.state for r in results} == {InvoiceState.VOIDED}
    with connect(database_url) as conn:
        voids = conn.execute(
            "SELECT count(*) FROM invoice_events WHERE invoice_id = %s AND event_type = %s",
            (invoice.id, EventType.VOIDED),
        ).fetchone()
    assert voids == (1,)


# --- what the database refuses by itself ---------------------------------------------------------------------


async def reversed_pair(pool: Any) -> tuple[Invoice, Invoice]:
    """An original reversed in part (10,000 of 102,500 fen) and its red invoice."""
    service = lifecycle(pool)
    original = await issue(service, 1)
    opened = await form(service, original, items=(ReversalItem(1, 10_000),))
    red, original = await service.issue_red(opened.id, actor=actor(), request_id=new_request_id())
    assert (original.state, original.reversed_amount_fen) == (InvoiceState.PARTIALLY_REVERSED, 10_000)
    return original, red


def refused_by_database(url: str, statement: str, params: tuple[Any, ...]) -> pg_errors.Error:
    """Run ``statement`` in a transaction of its own; return what PostgreSQL refused it with (at once or at
    commit, for deferred constraints)."""
    with connect(url) as conn, pytest.raises(psycopg.Error) as refused, conn.transaction():
        conn.execute(statement, params)
    return refused.value  # type: ignore[return-value]


async def test_the_database_refuses_a_reversal_ledger_beyond_the_original(pool: Any, database_url: str) -> None:
    original, _ = await reversed_pair(pool)
    error = refused_by_database(
        database_url,
        "UPDATE invoices SET state = 4, reversed_amount_fen = amount_fen + 1 WHERE id = %s",
        (original.id,),
    )
    assert isinstance(error, pg_errors.CheckViolation)
    assert error.diag.constraint_name in ("invoices_reversal_within_amount", "invoices_state_matches_reversal")


async def test_the_database_refuses_a_ledger_that_disagrees_with_the_red_invoices(pool: Any, database_url: str) -> None:
    original, red = await reversed_pair(pool)
    fresh = await issue(lifecycle(pool), 4)
    cases = [
        # The original says more (or less) was reversed than its red invoices reverse.
        ("UPDATE invoices SET reversed_amount_fen = 20000 WHERE id = %s", original.id),
        # A red invoice reverses more than the original records.
        ("UPDATE invoices SET amount_fen = -20000, total_fen = -20000 + tax_fen WHERE id = %s", red.id),
        # An invoice with no red invoice at all claims a reversal.
        ("UPDATE invoices SET state = 3, reversed_amount_fen = 1 WHERE id = %s", fresh.id),
    ]
    for statement, invoice_id in cases:
        error = refused_by_database(database_url, statement, (invoice_id,))
        assert isinstance(error, pg_errors.CheckViolation), statement
        assert error.diag.constraint_name == "invoices_reversal_ledger", statement


async def test_the_database_refuses_a_state_that_disagrees_with_the_ledger(pool: Any, database_url: str) -> None:
    original, _ = await reversed_pair(pool)
    for state in (1, 2, 4):
        error = refused_by_database(
            database_url, "UPDATE invoices SET state = %s, voided_at = now() WHERE id = %s", (state, original.id)
        )
        assert isinstance(error, pg_errors.CheckViolation)
        assert error.diag.constraint_name in ("invoices_state_matches_reversal", "invoices_voided_has_time")
    error = refused_by_database(database_url, "UPDATE invoices SET state = 4 WHERE id = %s", (original.id,))
    assert error.diag.constraint_name == "invoices_state_matches_reversal"


async def test_a_broken_ledger_reaches_the_caller_as_a_refused_change(pool: Any) -> None:
    original, _ = await reversed_pair(pool)
    store = PostgresLifecycle(pool, keyring_of(pool))
    with pytest.raises(FailedPrecondition) as refused:
        async with store.transaction() as tx:
            await tx.set_state(original.id, InvoiceState.FULLY_REVERSED, utc_now(), reversed_amount_fen=102_500)
    assert refused.value.reason == "REGISTER_CONSTRAINT"
    assert refused.value.subject == "invoices_reversal_ledger"
    assert (await lifecycle(pool).get(original.id, EVERYTHING)).reversed_amount_fen == 10_000


async def test_the_database_holds_one_open_form_per_invoice(pool: Any, database_url: str) -> None:
    service = lifecycle(pool)
    opened = await form(service, await issue(service, 10))
    second = (
        "INSERT INTO red_letter_forms (original_invoice_id, reason, state, initiator, seller_tax_id, buyer_tax_id,"
        " amount_fen, tax_fen, total_fen) SELECT original_invoice_id, 2, %s, 1, seller_tax_id, buyer_tax_id,"
        " -1, 0, -1 FROM red_letter_forms WHERE id = %s"
    )
    for state in (1, 4):
        error = refused_by_database(database_url, second, (state, opened.id))
        assert isinstance(error, pg_errors.UniqueViolation)
        assert error.diag.constraint_name == "red_letter_forms_one_open_per_invoice"
    store = PostgresLifecycle(pool, keyring_of(pool))
    with pytest.raises(Aborted):
        async with store.transaction() as tx:
            await tx.insert_form(replace(opened, id=0, expire_time=None))
    # A void form holds nothing: the same row in state 08 is accepted (and rolled back here).
    with connect(database_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(second, (8, opened.id))


async def test_a_spent_or_awaiting_form_keeps_its_shape(pool: Any, database_url: str) -> None:
    _, red = await reversed_pair(pool)
    spent = int(red.red_letter_form_id)
    error = refused_by_database(database_url, "UPDATE red_letter_forms SET state = 8 WHERE id = %s", (spent,))
    assert error.diag.constraint_name == "red_letter_forms_issued_only_when_allowed"
    service = lifecycle(pool)
    awaiting = await form(service, await issue(service, 4), by=BUYER)
    error = refused_by_database(
        database_url, "UPDATE red_letter_forms SET expires_at = NULL WHERE id = %s", (awaiting.id,)
    )
    assert error.diag.constraint_name == "red_letter_forms_awaiting_expires"


async def test_the_history_is_append_only(pool: Any, database_url: str) -> None:
    invoice = await issue(lifecycle(pool), 4)
    for statement in (
        "UPDATE invoice_events SET actor = 'someone else' WHERE invoice_id = %s",
        "DELETE FROM invoice_events WHERE invoice_id = %s",
    ):
        error = refused_by_database(database_url, statement, (invoice.id,))
        assert isinstance(error, pg_errors.InsufficientPrivilege), statement
    with connect(database_url) as conn:
        # Rolled back whatever happens: were the guard missing, this must not empty the shared history.
        with pytest.raises(pg_errors.InsufficientPrivilege), conn.transaction(force_rollback=True):
            conn.execute("TRUNCATE invoice_events")
        actors = conn.execute("SELECT actor FROM invoice_events WHERE invoice_id = %s", (invoice.id,)).fetchall()
    assert actors == [("tester",)]


# --- the writer's own caches --------------------------------------------------------------------------------


async def test_a_change_leaves_the_writers_caches_before_it_is_answered(
    pool: Any, redis_url: str, key_prefix: str
) -> None:
    """No announcement from PostgreSQL is listened to here, so only the writer's own invalidation can make the
    next lookup see the change: near cache and Redis both held the old state."""
    shared = RedisCache(redis_url, prefix=key_prefix)
    cached = CachedInvoices(
        PostgresInvoices(pool, keyring_of(pool)),
        near=NearCache(max_entries=100, ttl_seconds=60, negative_ttl_seconds=30),
        shared=shared,
    )
    service = LifecycleService(
        PostgresLifecycle(pool, keyring_of(pool)), PostgresIssuer(pool, keyring_of(pool)), invalidate=cached.invalidate
    )
    try:
        paper, electronic = await issue(service, 4), await issue(service, 10)
        for invoice in (paper, electronic):
            assert (await cached.get(invoice.key)).state is InvoiceState.ISSUED  # type: ignore[union-attr]
        await service.void(paper.id, reason="", actor=actor(), request_id=new_request_id())
        await service.issue_red((await form(service, electronic)).id, actor=actor(), request_id=new_request_id())
        assert (await cached.get(paper.key)).state is InvoiceState.VOIDED  # type: ignore[union-attr]
        assert (await cached.get(electronic.key)).state is InvoiceState.FULLY_REVERSED  # type: ignore[union-attr]
    finally:
        await shared.close()
