"""WatchInvoices end to end: two single-worker servers on one PostgreSQL, watchers on one and changes through
the other. Every transition reaches every watcher concerned once, in the register's order; a watcher that
reconnects with its last cursor gets exactly what it missed; a transaction that commits late is never skipped."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import grpc
import psycopg
import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao.v1 import lifecycle_pb2 as lc
from fapiao_client import FapiaoError
from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.fleet import (
    by_id,
    channel,
    issue_request,
    new_request_id,
    new_tax_id,
    pool_key,
    start_servers,
    stop_servers,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow
SELLER, BUYER = lc.TRADE_PARTY_SELLER, lc.TRADE_PARTY_BUYER
# Generous: PostgreSQL is shared, and a long transaction anywhere in it holds every watcher back.
WAIT = 20.0
# How long a watcher must stay quiet after its last expected event (a duplicate would arrive by then).
QUIET = 0.4
E_VAT_SPECIAL = invoice_pb2.INVOICE_TYPE_E_VAT_SPECIAL
VAT_GENERAL = invoice_pb2.INVOICE_TYPE_VAT_GENERAL
(ISSUED, VOIDED, CERTIFIED, CREATED, CONFIRMED, REFUSED, WITHDRAWN, REVERSED) = (
    lc.INVOICE_EVENT_TYPE_ISSUED,
    lc.INVOICE_EVENT_TYPE_VOIDED,
    lc.INVOICE_EVENT_TYPE_CERTIFIED,
    lc.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED,
    lc.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CONFIRMED,
    lc.INVOICE_EVENT_TYPE_RED_LETTER_FORM_REFUSED,
    lc.INVOICE_EVENT_TYPE_RED_LETTER_FORM_WITHDRAWN,
    lc.INVOICE_EVENT_TYPE_REVERSED,
)


@pytest.fixture(scope="module")
def pair(database_url: str, redis_url: str) -> Iterator[list[ServerProcess]]:
    servers = start_servers(database_url, redis_url)
    yield servers
    stop_servers(servers)


@pytest.fixture(scope="module")
def key(database_url: str) -> str:
    """The module's taxpayer: it acts for every tax id new_tax_id hands out."""
    return pool_key(database_url)


@pytest.fixture
async def stubs(pair: list[ServerProcess], key: str) -> Any:
    """A stub on server A and one on server B."""
    channels = [channel(server.address, key) for server in pair]
    yield [pb_grpc.InvoiceServiceStub(c) for c in channels]
    await asyncio.gather(*(c.close() for c in channels))


class Watcher:
    """One WatchInvoices stream, read in the background; ``events`` grows as they arrive."""

    def __init__(self, stub: pb_grpc.InvoiceServiceStub, request: pb.WatchInvoicesRequest) -> None:
        self.call = stub.WatchInvoices(request)
        self.events: list[lc.InvoiceEvent] = []
        self.cursor = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Watcher:
        """Wait for the first answer (it fixes the watch's starting point), then read on in the background."""
        first = await asyncio.wait_for(self.call.read(), WAIT)
        assert first is not grpc.aio.EOF
        assert first.cursor, "every answer carries a cursor, the first one too"
        self._take(first)
        self._reader = asyncio.create_task(self._read())
        return self

    def _take(self, response: pb.WatchInvoicesResponse) -> None:
        if response.events:
            assert response.cursor == response.events[-1].cursor, "an answer's cursor is after its last event"
        self.events.extend(response.events)
        self.cursor = response.cursor

    async def _read(self) -> None:
        while (response := await self.call.read()) is not grpc.aio.EOF:
            self._take(response)

    async def wait_for(self, count: int) -> list[lc.InvoiceEvent]:
        """The events once ``count`` have arrived and no more follow for a moment."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while len(self.events) < count:
            assert self._reader is not None and not self._reader.done(), self._reader
            assert loop.time() < deadline, f"{len(self.events)} of {count} events after {WAIT} s"
            await asyncio.sleep(0.01)
        await asyncio.sleep(QUIET)
        assert len(self.events) == count, f"{len(self.events) - count} events too many: {self.events[count:]}"
        return self.events

    async def close(self) -> None:
        self.call.cancel()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


async def watch(stub: Any, *, invoice_id: str = "", tax_id: str = "", region: str = "", cursor: str = "") -> Watcher:
    invoice = by_id(invoice_id) if invoice_id else None
    request = pb.WatchInvoicesRequest(invoice=invoice, tax_id=tax_id, region_code=region, cursor=cursor)
    return await Watcher(stub, request).start()


async def issue(stub: Any, kind: int, seller: str, buyer: str = "", amounts: tuple[int, ...] = (10_000,)) -> Any:
    return (await stub.IssueInvoice(issue_request(kind, seller, buyer, amounts))).invoice


async def certify(stub: Any, invoice_id: str) -> None:
    await stub.CertifyInvoice(pb.CertifyInvoiceRequest(request_id=new_request_id(), invoice=by_id(invoice_id)))


async def form(stub: Any, invoice_id: str, party: int, *items: tuple[int, int]) -> str:
    reason = lc.RED_LETTER_REASON_GOODS_RETURNED if items else lc.RED_LETTER_REASON_ISSUED_IN_ERROR
    request = pb.CreateRedLetterFormRequest(
        request_id=new_request_id(),
        invoice=by_id(invoice_id),
        reason=reason,
        initiator=party,  # type: ignore[arg-type]
        items=[pb.RedLetterItem(line_number=line, amount_fen=amount) for line, amount in items],
    )
    return str((await stub.CreateRedLetterForm(request)).form.id)


async def void(stub: Any, invoice_id: str) -> None:
    await stub.VoidInvoice(pb.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(invoice_id)))


async def recorded(stub: Any, invoice_id: str) -> list[lc.InvoiceEvent]:
    """The invoice's history as ListInvoiceEvents gives it."""
    answer = await stub.ListInvoiceEvents(pb.ListInvoiceEventsRequest(invoice=by_id(invoice_id), page_size=1000))
    return list(answer.events)


async def after_issue(stub: Any, invoice_id: str) -> str:
    """The cursor after an invoice's ISSUED event. A watch "from now on" starts at the last event no running
    transaction can still precede, which may lie before events committed a moment ago; a test that wants exactly
    the changes after the issue says so. (Nothing about an invoice can sort before the transaction creating it:
    whoever changes it learnt of it after that commit, so got a later transaction id.)

    The history hands out an event's own cursor only once no older transaction can still commit before it (until
    then an earlier one, from which a resume may repeat events), and on a busy cluster that takes a moment; so
    this waits for it."""
    deadline = time.monotonic() + WAIT
    while True:
        (issued,) = await recorded(stub, invoice_id)
        assert issued.event_type == ISSUED
        if base64.urlsafe_b64decode(issued.cursor + "==").decode().endswith(f".{issued.id}"):
            return issued.cursor
        assert time.monotonic() < deadline, "the ISSUED event never became stable"
        await asyncio.sleep(0.01)


def kinds(events: list[lc.InvoiceEvent]) -> list[int]:
    return [e.event_type for e in events]


def ids(events: list[lc.InvoiceEvent]) -> list[str]:
    return [e.id for e in events]


async def closed_all(*watchers: Watcher) -> None:
    for watcher in watchers:
        await watcher.close()


# --- tests ---------------------------------------------------------------------------------------------------


async def test_the_first_answer_is_empty_and_carries_a_cursor(stubs: list[Any]) -> None:
    watcher = await watch(stubs[0], tax_id=new_tax_id())
    try:
        assert watcher.events == [] and watcher.cursor
    finally:
        await watcher.close()


async def test_invoice_and_tax_id_watchers_see_every_transition_once_in_order(stubs: list[Any]) -> None:
    """Watchers on server A; the changes go through both servers in turn."""
    a, b = stubs
    seller, buyer = new_tax_id(), new_tax_id("440305")
    by_seller = await watch(a, tax_id=seller)
    by_buyer = await watch(b, tax_id=buyer)
    original = await issue(b, E_VAT_SPECIAL, seller, buyer, amounts=(6_000, 4_000))
    by_invoice = await watch(a, invoice_id=original.id, cursor=await after_issue(b, original.id))
    try:
        await certify(b, original.id)
        first = await form(a, original.id, SELLER, (1, 1_000))  # certified: awaits the buyer (02)
        await b.RejectRedLetterForm(
            pb.RejectRedLetterFormRequest(request_id=new_request_id(), form_id=first, party=BUYER)
        )
        second = await form(a, original.id, BUYER, (2, 500))  # 03
        await b.ConfirmRedLetterForm(
            pb.ConfirmRedLetterFormRequest(request_id=new_request_id(), form_id=second, party=SELLER)
        )
        red = (await a.IssueRedInvoice(pb.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=second))).invoice
        third = await form(b, original.id, SELLER)
        await a.WithdrawRedLetterForm(
            pb.WithdrawRedLetterFormRequest(request_id=new_request_id(), form_id=third, party=SELLER)
        )

        transitions = [CERTIFIED, CREATED, REFUSED, CREATED, CONFIRMED, REVERSED, CREATED, WITHDRAWN]
        seen = await by_invoice.wait_for(len(transitions))
        assert kinds(seen) == transitions
        assert ids(seen) == ids(await recorded(b, original.id))[1:], "the watch and the history disagree"
        reversed_event = seen[5]
        assert (reversed_event.state_before, reversed_event.state_after) == (
            invoice_pb2.INVOICE_STATE_ISSUED,
            invoice_pb2.INVOICE_STATE_PARTIALLY_REVERSED,
        )
        assert reversed_event.reversed_amount_fen == 500 and reversed_event.red_invoice.id == red.id
        assert [e.red_letter_form_id for e in seen[1:]] == [first, first, second, second, second, third, third]

        # A tax id's watchers also see the two invoices being issued (the original, then the red invoice).
        everything = [ISSUED, *transitions[:5], ISSUED, *transitions[5:]]
        whole_history = ids(await recorded(a, original.id))
        for watcher in (by_seller, by_buyer):
            got = await watcher.wait_for(len(everything))
            assert kinds(got) == everything
            assert [e.invoice.id for e in got if e.event_type == ISSUED] == [original.id, red.id]
            assert ids([e for e in got if e.invoice.id == original.id]) == whole_history
        assert ids(by_seller.events) == ids(by_buyer.events)
        cursors = [e.cursor for e in by_seller.events]
        assert len(set(cursors)) == len(cursors)
    finally:
        await closed_all(by_seller, by_buyer, by_invoice)


async def test_a_watcher_on_one_server_sees_changes_made_through_the_other(stubs: list[Any]) -> None:
    a, b = stubs
    seller = new_tax_id()
    on_a, on_b = await watch(a, tax_id=seller), await watch(b, tax_id=seller)
    try:
        through_b = await issue(b, VAT_GENERAL, seller)
        through_a = await issue(a, VAT_GENERAL, seller)
        await void(b, through_a.id)
        await void(a, through_b.id)
        for watcher in (on_a, on_b):
            got = await watcher.wait_for(4)
            assert [(e.event_type, e.invoice.id) for e in got] == [
                (ISSUED, through_b.id),
                (ISSUED, through_a.id),
                (VOIDED, through_a.id),
                (VOIDED, through_b.id),
            ]
    finally:
        await closed_all(on_a, on_b)


async def test_reconnecting_with_the_last_cursor_gets_exactly_what_was_missed(stubs: list[Any]) -> None:
    a, b = stubs
    seller, buyer = new_tax_id(), new_tax_id("440305")
    original = await issue(a, E_VAT_SPECIAL, seller, buyer)
    before = await watch(a, invoice_id=original.id, cursor=await after_issue(a, original.id))
    try:
        await certify(b, original.id)
        first = await form(b, original.id, SELLER, (1, 2_000))
        assert kinds(await before.wait_for(2)) == [CERTIFIED, CREATED]
        last = before.events[-1].cursor
        assert before.cursor == last
    finally:
        await before.close()

    await b.RejectRedLetterForm(pb.RejectRedLetterFormRequest(request_id=new_request_id(), form_id=first, party=BUYER))
    second = await form(a, original.id, BUYER, (1, 1_500))
    await b.ConfirmRedLetterForm(
        pb.ConfirmRedLetterFormRequest(request_id=new_request_id(), form_id=second, party=SELLER)
    )

    after = await watch(b, invoice_id=original.id, cursor=last)
    try:
        assert kinds(await after.wait_for(3)) == [REFUSED, CREATED, CONFIRMED]
        await a.IssueRedInvoice(pb.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=second))
        assert kinds(await after.wait_for(4)) == [REFUSED, CREATED, CONFIRMED, REVERSED]
        assert ids(before.events + after.events) == ids(await recorded(a, original.id))[1:]
    finally:
        await after.close()


async def test_the_cursor_of_the_first_empty_answer_resumes_from_there(stubs: list[Any]) -> None:
    a, b = stubs
    seller = new_tax_id()
    opened = await watch(a, tax_id=seller)
    start = opened.cursor
    await opened.close()
    first = await issue(b, VAT_GENERAL, seller)
    second = await issue(a, VAT_GENERAL, seller)
    await void(b, first.id)
    resumed = await watch(a, tax_id=seller, cursor=start)
    try:
        got = await resumed.wait_for(3)
        assert [(e.event_type, e.invoice.id) for e in got] == [
            (ISSUED, first.id),
            (ISSUED, second.id),
            (VOIDED, first.id),
        ]
    finally:
        await resumed.close()


async def test_an_event_committed_late_by_an_older_transaction_is_not_skipped(
    stubs: list[Any], database_url: str
) -> None:
    """A transaction that began writing first but commits last: its event sorts first, and no watcher (nor
    cursor) moves past it before it commits."""
    a, b = stubs
    seller = new_tax_id()
    watcher = await watch(a, tax_id=seller)
    try:
        slow, quick = await issue(a, VAT_GENERAL, seller), await issue(a, VAT_GENERAL, seller)
        await watcher.wait_for(2)
        with psycopg.connect(database_url) as conn:  # one transaction, held open
            conn.execute(
                "INSERT INTO invoice_events (event_type, invoice_id, seller_tax_id, buyer_tax_id, region_code, actor,"
                " reason, state_before, state_after) VALUES (3, %s, %s, '', %s, 'slow-writer', 'late commit', 1, 1)",
                (int(slow.id), seller, slow.region_code),
            )
            await void(b, quick.id)  # commits while the older transaction still runs
            await asyncio.sleep(QUIET * 2)
            assert len(watcher.events) == 2, "an event was handed out while an older transaction could still commit"
            held = watcher.cursor
            conn.commit()
        got = (await watcher.wait_for(4))[2:]
        assert [(e.event_type, e.invoice.id) for e in got] == [(CERTIFIED, slow.id), (VOIDED, quick.id)]
        assert got[0].actor == "slow-writer"
        resumed = await watch(b, tax_id=seller, cursor=held)
        try:
            assert ids(await resumed.wait_for(2)) == ids(got)
        finally:
            await resumed.close()
    finally:
        await watcher.close()


async def test_a_cursor_from_the_history_does_not_skip_an_event_committed_late(
    stubs: list[Any], database_url: str
) -> None:
    """A change whose transaction got its id first (every change claims its request id before it locks the
    invoice) but takes the invoice's lock second, as two concurrent changes to one invoice do."""
    a, b = stubs
    original = await issue(a, E_VAT_SPECIAL, new_tax_id(), new_tax_id("440305"))
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT pg_current_xact_id()")  # the slower change (a certification) has claimed its request id
        withdrawn = await form(b, original.id, SELLER)  # quicker changes lock, write and commit first
        await a.WithdrawRedLetterForm(
            pb.WithdrawRedLetterFormRequest(request_id=new_request_id(), form_id=withdrawn, party=SELLER)
        )
        cursor = (await recorded(a, original.id))[-1].cursor  # the client resumes from the history's last event
        conn.execute("SELECT id FROM invoices WHERE id = %s FOR UPDATE", (int(original.id),))
        conn.execute("UPDATE invoices SET certified_at = now() WHERE id = %s", (int(original.id),))
        conn.execute(
            "INSERT INTO invoice_events (event_type, invoice_id, seller_tax_id, buyer_tax_id, region_code, actor,"
            " state_before, state_after) VALUES (3, %s, %s, %s, %s, 'slow-writer', 1, 1)",
            (int(original.id), original.seller.tax_id, original.buyer.tax_id, original.region_code),
        )
        conn.commit()
    assert kinds(await recorded(a, original.id)) == [ISSUED, CERTIFIED, CREATED, WITHDRAWN], "the late one sorts first"
    resumed = await watch(b, invoice_id=original.id, cursor=cursor)
    try:
        last = await form(a, original.id, SELLER)  # one more change, so the watcher has something to wait for
        # The history's last cursor fell back to the last stable event (the ISSUED one, or earlier on a busy
        # cluster) while the slow change ran: the resume repeats events after it, and does not miss the late one.
        deadline = time.monotonic() + WAIT
        while not any(e.red_letter_form_id == last for e in resumed.events):
            assert time.monotonic() < deadline, f"the last change never arrived: {kinds(resumed.events)}"
            await asyncio.sleep(0.01)
        history = ids(await recorded(a, original.id))
        got = ids(resumed.events)
        assert got == history[history.index(got[0]) :], "a contiguous run of the history, in its order"
        assert CERTIFIED in kinds(resumed.events), f"the late CERTIFIED event was skipped: {kinds(resumed.events)}"
    finally:
        await resumed.close()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor", ["not-a-cursor", _b64("12"), _b64("-1.1"), "A" * 80, _b64(f"{2**64}.1"), _b64(f"1.{2**63}")]
)
async def test_a_bad_cursor_is_invalid_argument(stubs: list[Any], cursor: str) -> None:
    call = stubs[0].WatchInvoices(pb.WatchInvoicesRequest(tax_id=new_tax_id(), cursor=cursor))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(call.read(), WAIT)
    error = FapiaoError.from_rpc_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CURSOR")
    assert [v.field for v in error.field_violations] == ["cursor"]


@pytest.mark.parametrize(
    "request_fields",
    [
        {},
        {"tax_id": "91310115MA1K4QXC4B", "invoice": pb.InvoiceSelector(id="1")},
        {"tax_id": "91310115MA1K4QXC4B", "region_code": "3100"},
        {"tax_id": "9131011"},
        {"region_code": "31"},
        {"region_code": "31O0"},
    ],
)
async def test_a_watch_needs_exactly_one_valid_target(stubs: list[Any], request_fields: dict[str, Any]) -> None:
    call = stubs[1].WatchInvoices(pb.WatchInvoicesRequest(**request_fields))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(call.read(), WAIT)
    error = FapiaoError.from_rpc_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_WATCH")


@pytest.mark.parametrize(
    "selector",
    [pb.InvoiceSelector(id="999999999999"), pb.InvoiceSelector(invoice_code="3100259130", invoice_number="99999999")],
)
async def test_watching_an_invoice_that_does_not_exist_is_not_found(
    stubs: list[Any], selector: pb.InvoiceSelector
) -> None:
    call = stubs[0].WatchInvoices(pb.WatchInvoicesRequest(invoice=selector))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(call.read(), WAIT)
    error = FapiaoError.from_rpc_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")


async def refused_watch(stub: Any, **fields: Any) -> FapiaoError:
    call = stub.WatchInvoices(pb.WatchInvoicesRequest(**fields))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(call.read(), WAIT)
    return FapiaoError.from_rpc_error(refused.value)


async def test_a_tax_officer_watches_the_regions_it_is_assigned_to_and_no_other(
    stubs: list[Any], pair: list[ServerProcess], database_url: str
) -> None:
    """An officer of Xinjiang (6500) follows every invoice of its region, whoever sells or buys, through either
    server and across a reconnect; another region's changes never reach it, and it may not watch other regions
    or a tax id. A taxpayer may not watch a region."""
    taxpayer = stubs[1]
    officer_channel = channel(pair[0].address, principal_key(database_url, Role.TAX_OFFICER, regions=["6500"]))
    officer = pb_grpc.InvoiceServiceStub(officer_channel)
    inside, outside = new_tax_id("650102"), new_tax_id("640104")
    try:
        watcher = await watch(officer, region="6500")
        try:
            first = await issue(taxpayer, VAT_GENERAL, inside)
            await issue(taxpayer, VAT_GENERAL, outside)
            await void(taxpayer, first.id)
            events = await watcher.wait_for(2)
            assert kinds(events) == [ISSUED, VOIDED] and {e.invoice.id for e in events} == {first.id}
            assert {e.region_code for e in events} == {"6500"} == {first.region_code}
        finally:
            await watcher.close()

        second = await issue(taxpayer, VAT_GENERAL, inside)
        await issue(taxpayer, VAT_GENERAL, outside)
        resumed = await watch(officer, region="6500", cursor=watcher.cursor)
        try:
            assert [(e.event_type, e.invoice.id) for e in await resumed.wait_for(1)] == [(ISSUED, second.id)]
        finally:
            await resumed.close()

        for stub, fields, reason in (
            (officer, {"region_code": "6400"}, "NOT_THE_REGION_OFFICER"),
            (officer, {"tax_id": inside}, "NOT_THE_TAXPAYER"),
            (taxpayer, {"region_code": "6500"}, "NOT_THE_REGION_OFFICER"),
        ):
            error = await refused_watch(stub, **fields)
            assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, reason), (fields, error)
    finally:
        await officer_channel.close()
