"""How changes are named in the audit log (subject_of), and AuditLog's queue: recording never waits, batches
follow the store's pace, failed batches are retried, an outage cannot take unbounded memory, close writes the
rest. The store here is a fake: what is tested is the queue's logic; tests/integration has the real one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao_server.domain.audit import AuditEvent, AuditOutcome
from fapiao_server.services.audit import CALL_AUDIT, AuditLog, CallAudit, audit_of_change, change_audited
from fapiao_server.transport.audit_trail import subject_of
from fapiao_server.transport.policy import AUDITED

VOID = "/fapiao.v1.InvoiceService/VoidInvoice"


@pytest.mark.parametrize(
    ("request_message", "response", "subject"),
    [
        (pb.IssueInvoiceRequest(), pb.IssueInvoiceResponse(invoice=invoice_pb2.Invoice(id="7")), "invoices/7"),
        (pb.IssueInvoiceRequest(seller=invoice_pb2.Party(tax_id="91X")), None, "taxpayers/91X"),
        (pb.VoidInvoiceRequest(invoice=pb.InvoiceSelector(id="8")), None, "invoices/8"),
        (pb.VoidInvoiceRequest(invoice=pb.InvoiceSelector(invoice_code="1100", invoice_number="123")), None,
         "invoices/1100:123"),
        (pb.CertifyInvoiceRequest(invoice=pb.InvoiceSelector(id="8")),
         pb.CertifyInvoiceResponse(invoice=invoice_pb2.Invoice(id="8")), "invoices/8"),
        (pb.ReportTaxPeriodRequest(tax_id="91X", year=2026, month=3), pb.ReportTaxPeriodResponse(),
         "tax-periods/91X/2026-03"),
        (pb.ConfirmRedLetterFormRequest(form_id="45"), None, "red-letter-forms/45"),
        (pb.WithdrawRedLetterFormRequest(form_id="45"), None, "red-letter-forms/45"),
        (pb.IssueRedInvoiceRequest(form_id="45"),
         pb.IssueRedInvoiceResponse(invoice=invoice_pb2.Invoice(id="9")), "invoices/9"),
    ],
)  # fmt: skip
def test_a_change_is_named_by_its_answer_or_else_its_request(request_message, response, subject) -> None:  # type: ignore[no-untyped-def]
    assert subject_of(request_message, response) == subject


def test_every_invoice_change_is_audited_and_no_read_is() -> None:
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["InvoiceService"].methods}
    service = "/fapiao.v1.InvoiceService/"
    audited = {name.removeprefix(service) for name in AUDITED if name.startswith(service)}
    assert audited <= methods
    assert not audited & {m for m in methods if m.startswith(("Get", "List", "Watch"))}
    assert methods - audited == {m for m in methods if m.startswith(("Get", "List", "Watch"))}


class Store:
    """Appends into a list; each append takes a tick, or fails while ``failing``."""

    def __init__(self, outbox_batch: int = 2) -> None:
        self.batches: list[list[AuditEvent]] = []
        self.failing = 0
        # What changes left in the outbox; each append chains at most outbox_batch of them first.
        self.outbox: list[AuditEvent] = []
        self.outbox_batch = outbox_batch
        self.entered = asyncio.Event()  # an append has begun

    async def append(self, events: Sequence[AuditEvent]) -> bool:
        taken, self.outbox = self.outbox[: self.outbox_batch], self.outbox[self.outbox_batch :]
        self.entered.set()
        await asyncio.sleep(0.001)
        if self.failing:
            self.failing -= 1
            self.outbox[:0] = taken  # the transaction rolled back
            raise OSError("the database is away")
        if taken or events:
            self.batches.append([*taken, *events])
        return len(taken) == self.outbox_batch

    @property
    def written(self) -> list[str]:
        return [e.subject for batch in self.batches for e in batch]


def event(n: int) -> AuditEvent:
    return AuditEvent(time=datetime.now(UTC), actor="a", action=VOID, outcome=AuditOutcome.OK, subject=str(n))


def test_a_change_writes_the_calls_event_at_its_own_time_naming_what_it_changed() -> None:
    at = datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert audit_of_change(at, "principals/p") == ()  # outside an audited call there is nothing to write
    call = CallAudit(event(1))
    token = CALL_AUDIT.set(call)
    try:
        assert audit_of_change(at, "principals/p") == (replace(call.event, time=at, subject="principals/p"),)
        assert audit_of_change(at)[0].subject == "1"  # by default what the request named
        assert not call.written  # until the change's transaction has committed
        change_audited()
        assert call.written
    finally:
        CALL_AUDIT.reset(token)


async def test_recording_returns_at_once_and_batches_follow_the_stores_pace() -> None:
    store = Store()
    log = AuditLog(store, max_batch=100)  # type: ignore[arg-type]
    for n in range(250):
        log.record(event(n))
    assert store.batches == [] and log.pending == 250
    await log.close()
    assert store.written == [str(n) for n in range(250)]
    assert [len(b) for b in store.batches] == [100, 100, 50]
    assert log.pending == 0


async def test_a_wake_chains_the_outbox_before_what_is_queued_however_many_batches_it_takes() -> None:
    store = Store(outbox_batch=2)
    store.outbox = [event(n) for n in range(5)]
    log = AuditLog(store, linger_seconds=0)  # type: ignore[arg-type]
    log.record(event(5))
    log.wake()
    await asyncio.wait_for(log.flush(), 5)
    assert store.written == ["0", "1", "5", "2", "3", "4"]
    assert store.outbox == []


async def test_a_wake_while_an_append_is_at_the_database_is_not_lost() -> None:
    store = Store()
    log = AuditLog(store, linger_seconds=0)  # type: ignore[arg-type]
    log.record(event(0))
    await store.entered.wait()  # the writer is inside append, past the empty outbox
    store.outbox = [event(1)]  # a change committed meanwhile
    log.wake()
    await asyncio.wait_for(log.flush(), 5)
    assert store.written == ["0", "1"]


async def test_collecting_the_outbox_needs_no_recorded_event() -> None:
    store = Store()
    store.outbox = [event(7)]  # left by a worker that died before its writer ran
    log = AuditLog(store)  # type: ignore[arg-type]
    await asyncio.wait_for(log.collect_outbox(), 5)
    assert store.written == ["7"]


async def test_a_failed_batch_is_kept_and_retried_in_order() -> None:
    store = Store()
    store.failing = 2
    log = AuditLog(store)  # type: ignore[arg-type]
    for n in range(5):
        log.record(event(n))
    await asyncio.wait_for(log.flush(), 5)
    assert store.written == ["0", "1", "2", "3", "4"]


async def test_past_the_limit_the_oldest_queued_events_are_dropped_once() -> None:
    store = Store()
    store.failing = 1
    log = AuditLog(store, max_batch=4, max_pending=6)  # type: ignore[arg-type]
    for n in range(4):
        log.record(event(n))
    await asyncio.sleep(0)  # the writer takes 0-3 and fails; they stay queued
    for n in range(4, 10):
        log.record(event(n))  # 10 queued, limit 6: 0-3 go
    await asyncio.wait_for(log.flush(), 5)
    assert store.written == ["4", "5", "6", "7", "8", "9"]


async def test_events_dropped_while_their_batch_is_at_the_database_are_not_dropped_twice() -> None:
    store = Store()
    log = AuditLog(store, max_batch=3, max_pending=4)  # type: ignore[arg-type]
    for n in range(3):
        log.record(event(n))
    await asyncio.sleep(0)  # batch 0-2 is at the store
    for n in range(3, 6):
        log.record(event(n))  # 6 queued, limit 4: 0 and 1 are dropped from the queue, yet are being written
    await asyncio.wait_for(log.flush(), 5)
    assert store.written == ["0", "1", "2", "3", "4", "5"]


async def test_close_gives_up_after_its_timeout_while_the_store_stays_away() -> None:
    store = Store()
    store.failing = 10**6
    log = AuditLog(store)  # type: ignore[arg-type]
    log.record(event(0))
    await log.close(timeout=0.3)
    assert store.written == [] and log.pending == 1


async def test_events_arriving_within_the_linger_share_one_transaction() -> None:
    store = Store()
    log = AuditLog(store, linger_seconds=0.2)  # type: ignore[arg-type]
    for n in range(5):
        log.record(event(n))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.4)
    assert [len(batch) for batch in store.batches] == [5]
