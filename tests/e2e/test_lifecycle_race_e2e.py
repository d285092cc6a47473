"""Concurrent changes to one invoice from dozens of real clients: two single-worker servers on real ports, one
PostgreSQL. Every call of a race is released at once over its own connection (alternately to either server), or
one kind of call first to force which kind wins; exactly one of each conflicting set wins, the others are refused
(FAILED_PRECONDITION, for the reason the winner's change gives them) or told to retry (ABORTED), nobody ever sees
INTERNAL, and afterwards the ledger read straight from PostgreSQL agrees with
itself: state, reversed amount, red invoices, forms and history.

"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import psycopg
import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao.v1 import lifecycle_pb2 as lc
from tests.support.fleet import (
    OK,
    by_id,
    channel,
    issue_request,
    new_request_id,
    new_tax_id,
    outcome,
    pool_key,
    start_servers,
    stop_servers,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow
T = TypeVar("T")
RACERS = 40
CALL_TIMEOUT = 30.0
VAT_GENERAL = invoice_pb2.INVOICE_TYPE_VAT_GENERAL  # 04, paper: may be voided in its month
E_VAT_GENERAL = invoice_pb2.INVOICE_TYPE_E_VAT_GENERAL  # 10, electronic: only reversed
SELLER, BUYER = lc.TRADE_PARTY_SELLER, lc.TRADE_PARTY_BUYER
ISSUED, VOIDED, PARTIAL, FULL = (
    invoice_pb2.INVOICE_STATE_ISSUED,
    invoice_pb2.INVOICE_STATE_VOIDED,
    invoice_pb2.INVOICE_STATE_PARTIALLY_REVERSED,
    invoice_pb2.INVOICE_STATE_FULLY_REVERSED,
)


# --- this file's fixtures -----------------------------------------------------------------------------------


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
    """RACERS stubs, each on its own connection, alternately to either server; all connected before use."""
    channels = [channel(pair[n % 2].address, key) for n in range(RACERS)]
    await asyncio.gather(*(asyncio.wait_for(c.channel_ready(), 10) for c in channels))
    yield [pb_grpc.InvoiceServiceStub(c) for c in channels]
    await asyncio.gather(*(c.close() for c in channels))


async def race(
    calls: Sequence[Callable[[], Awaitable[T]]], head_start: Collection[int] = ()
) -> list[T | grpc.aio.AioRpcError]:
    """Run every call at once: each waits at a gate that the last one to arrive opens.

    With ``head_start`` (indexes into ``calls``), those calls go through the gate first and the others follow as
    soon as one of them has succeeded (or all have failed): that forces which kind of call wins a race of two
    kinds, while the losers still race each other and the winner's commit."""
    gate, rest = asyncio.Event(), asyncio.Event()
    arrived = 0
    leaders_left = len(head_start)
    if not head_start:
        rest.set()

    async def one(n: int, call: Callable[[], Awaitable[T]]) -> T | grpc.aio.AioRpcError:
        nonlocal arrived, leaders_left
        arrived += 1
        if arrived == len(calls):
            gate.set()
        await gate.wait()
        if n not in head_start:
            await rest.wait()
        succeeded = False
        try:
            result: T | grpc.aio.AioRpcError = await call()
            succeeded = True
        except grpc.aio.AioRpcError as error:
            result = error
        finally:
            if n in head_start:
                leaders_left -= 1
                if succeeded or leaders_left == 0:
                    rest.set()
        return result

    return await asyncio.gather(*(one(n, call) for n, call in enumerate(calls)))


def assert_one_winner(results: Sequence[object], refusals: set[str]) -> int:
    """Exactly one call succeeded; every other was refused for one of ``refusals`` or ABORTED. Returns its index."""
    outcomes = [outcome(r) for r in results]
    print(f"\nrace of {len(outcomes)}: {dict(Counter(outcomes))}")
    winners = [n for n, o in enumerate(outcomes) if o == OK]
    assert len(winners) == 1, Counter(outcomes)
    losers = {o for o in outcomes if o != OK}
    allowed = {f"FAILED_PRECONDITION:{reason}" for reason in refusals} | {"ABORTED:CONCURRENT_CHANGE"}
    assert losers <= allowed, Counter(outcomes)
    return winners[0]


def assert_one_kind_wins(
    results: Sequence[object], kinds: Sequence[str], refusals: Mapping[tuple[str, str], str]
) -> str:
    """A race of two kinds of call: exactly one call won, and every other got the refusal its kind gets once the
    winner's kind has won (``refusals[winning kind, loser's kind]``), or ABORTED. Returns the winning kind."""
    winner = assert_one_winner(results, set(refusals.values()))
    won = kinds[winner]
    for n, result in enumerate(results):
        if n != winner:
            expected = f"FAILED_PRECONDITION:{refusals[won, kinds[n]]}"
            assert outcome(result) in {expected, "ABORTED:CONCURRENT_CHANGE"}, (n, kinds[n], outcome(result), won)
    return won


async def issued(stub: pb_grpc.InvoiceServiceStub, request: pb.IssueInvoiceRequest) -> invoice_pb2.Invoice:
    return (await stub.IssueInvoice(request, timeout=CALL_TIMEOUT)).invoice


def issue_red(stub: pb_grpc.InvoiceServiceStub, form_id: str) -> Awaitable[pb.IssueRedInvoiceResponse]:
    return stub.IssueRedInvoice(
        pb.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=form_id), timeout=CALL_TIMEOUT
    )


async def open_form_of(stub: pb_grpc.InvoiceServiceStub, invoice_id: str) -> str:
    """The form a red invoice may be issued from now ('' if none), as GetAllowedActions names it."""
    answer = await stub.GetAllowedActions(pb.GetAllowedActionsRequest(invoice=by_id(invoice_id)), timeout=CALL_TIMEOUT)
    (issue,) = [a for a in answer.actions if a.action == pb.INVOICE_ACTION_ISSUE_RED_INVOICE]
    return issue.red_letter_form_id


async def full_form(stub: pb_grpc.InvoiceServiceStub, invoice_id: str) -> lc.RedLetterForm:
    """A seller's form reversing everything left of an uncertified invoice: 01, issuable at once."""
    request = pb.CreateRedLetterFormRequest(
        request_id=new_request_id(),
        invoice=by_id(invoice_id),
        reason=lc.RED_LETTER_REASON_ISSUED_IN_ERROR,
        initiator=SELLER,
    )
    return (await stub.CreateRedLetterForm(request, timeout=CALL_TIMEOUT)).form


# --- the ledger, read from PostgreSQL ----------------------------------------------------------------------


def ledger(database_url: str, invoice_id: str) -> dict[str, Any]:
    """What PostgreSQL holds about an original invoice, checked for agreement with itself."""
    with psycopg.connect(database_url, autocommit=True) as conn:

        def one(sql: str) -> Any:
            return conn.execute(sql, {"id": int(invoice_id)}).fetchone()

        state, amount, tax, reversed_fen = one(
            "SELECT state, amount_fen, tax_fen, reversed_amount_fen FROM invoices WHERE id = %(id)s"
        )
        reds, red_amount, red_tax = one(
            "SELECT count(*), coalesce(-sum(amount_fen), 0), coalesce(-sum(tax_fen), 0) FROM invoices"
            " WHERE original_invoice_id = %(id)s"
        )
        events = dict(
            conn.execute(
                "SELECT event_type, count(*) FROM invoice_events WHERE invoice_id = %(id)s GROUP BY event_type",
                {"id": int(invoice_id)},
            ).fetchall()
        )
        (reversed_in_events,) = one(
            "SELECT coalesce(sum(reversed_amount_fen), 0) FROM invoice_events"
            " WHERE invoice_id = %(id)s AND event_type = 9"
        )
        forms, forms_issued, forms_open = one(
            "SELECT count(*), count(red_invoice_id), count(*) FILTER (WHERE state IN (1, 2, 3, 4)"
            " AND red_invoice_id IS NULL) FROM red_letter_forms WHERE original_invoice_id = %(id)s"
        )
        reds_without_one_issued_event = one(
            "SELECT count(*) FROM invoices r WHERE r.original_invoice_id = %(id)s AND"
            " (SELECT count(*) FROM invoice_events e WHERE e.invoice_id = r.id AND e.event_type = 1) <> 1"
        )[0]
        overdrawn_lines = conn.execute(
            "SELECT o.line_number, o.amount_fen, -sum(l.amount_fen) FROM invoice_lines o"
            " JOIN invoices r ON r.original_invoice_id = o.invoice_id"
            " JOIN invoice_lines l ON l.invoice_id = r.id AND l.reverses_line_number = o.line_number"
            " WHERE o.invoice_id = %(id)s GROUP BY o.line_number, o.amount_fen"
            " HAVING -sum(l.amount_fen) > o.amount_fen OR -sum(l.tax_fen) > max(o.tax_fen)",
            {"id": int(invoice_id)},
        ).fetchall()
    assert reversed_fen == red_amount == reversed_in_events, "the reversed amount disagrees with the red invoices"
    assert 0 <= reversed_fen <= amount and red_tax <= tax, "more was reversed than the invoice holds"
    assert not overdrawn_lines, f"lines reversed beyond their amount: {overdrawn_lines}"
    expected_state = ISSUED if reversed_fen == 0 else FULL if reversed_fen == amount else PARTIAL
    assert state == expected_state or (state == VOIDED and reversed_fen == 0)
    assert events.get(1) == 1, f"history: {events}"
    assert events.get(2, 0) == (state == VOIDED), f"one VOIDED event iff voided; history: {events}"
    assert events.get(9, 0) == reds == forms_issued, f"one REVERSED event per red invoice; history: {events}"
    assert events.get(4, 0) == forms, f"one RED_LETTER_FORM_CREATED event per form; history: {events}"
    assert forms_open <= 1, "two forms open against one invoice"
    assert reds_without_one_issued_event == 0, "a red invoice without exactly one ISSUED event"
    return {
        "state": state,
        "amount": amount,
        "tax": tax,
        "reversed": reversed_fen,
        "red_tax": red_tax,
        "reds": reds,
        "forms": forms,
        "open_forms": forms_open,
        "events": events,
    }


# --- races ---------------------------------------------------------------------------------------------------


async def test_many_voids_of_one_invoice_void_it_once(stubs: list[Any], database_url: str) -> None:
    invoice = await issued(stubs[0], issue_request(VAT_GENERAL, new_tax_id()))
    results = await race(
        [
            lambda s=s: s.VoidInvoice(
                pb.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(invoice.id), reason="开错了"),
                timeout=CALL_TIMEOUT,
            )
            for s in stubs
        ]
    )
    winner = assert_one_winner(results, {"ALREADY_VOIDED"})
    assert results[winner].invoice.state == VOIDED  # type: ignore[union-attr]
    assert ledger(database_url, invoice.id)["state"] == VOIDED


async def test_a_retry_storm_of_one_request_id_changes_once_and_answers_all_alike(
    stubs: list[Any], database_url: str
) -> None:
    """AIP-155 under fire: the same VoidInvoice (same id, same principal) from every client at once."""
    invoice = await issued(stubs[0], issue_request(VAT_GENERAL, new_tax_id()))
    request = pb.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(invoice.id), reason="重试")
    results = await race([lambda s=s: s.VoidInvoice(request, timeout=CALL_TIMEOUT) for s in stubs])
    assert {outcome(r) for r in results} == {OK}, Counter(outcome(r) for r in results)
    answers = {(r.invoice.id, r.invoice.state, r.invoice.void_time.ToNanoseconds()) for r in results}  # type: ignore[union-attr]
    assert len(answers) == 1 and next(iter(answers))[1] == VOIDED
    assert ledger(database_url, invoice.id)["events"] == {1: 1, 2: 1}


async def test_a_retry_storm_of_one_issue_request_issues_one_invoice(stubs: list[Any], database_url: str) -> None:
    seller = new_tax_id()
    request = issue_request(E_VAT_GENERAL, seller)
    results = await race([lambda s=s: s.IssueInvoice(request, timeout=CALL_TIMEOUT) for s in stubs])
    assert {outcome(r) for r in results} == {OK}
    assert len({r.invoice.invoice_number for r in results}) == 1  # type: ignore[union-attr]
    with psycopg.connect(database_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM invoices WHERE seller_tax_id = %s", (seller,)).fetchone()  # type: ignore[misc]
    assert count == 1


def second_kind(n: int) -> bool:
    """Whether racer ``n`` makes the second of two kinds of call: pairs alternate, so each kind reaches both servers."""
    return n // 2 % 2 == 1


# Who may still act once a void or a form has won: a void after a void is ALREADY_VOIDED, a form after a void
# INVOICE_VOIDED; the open form refuses both a void and another form.
VOID_OR_FORM_REFUSALS = {
    ("void", "void"): "ALREADY_VOIDED",
    ("void", "form"): "INVOICE_VOIDED",
    ("form", "void"): "RED_LETTER_FORM_OPEN",
    ("form", "form"): "RED_LETTER_FORM_OPEN",
}


@pytest.mark.parametrize("first", [None, None, None, "void", "form"], ids=["free", "free", "free", "void", "form"])
async def test_void_against_red_letter_form_exactly_one_kind_wins(
    stubs: list[Any], database_url: str, first: str | None
) -> None:
    """Free races, whichever kind wins, and races where one kind is let through first, so each outcome's
    assertions run every time."""
    invoice = await issued(stubs[0], issue_request(VAT_GENERAL, new_tax_id()))

    def void(s: Any) -> Awaitable[Any]:
        request = pb.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(invoice.id))
        return s.VoidInvoice(request, timeout=CALL_TIMEOUT)

    kinds = ["void" if second_kind(n) else "form" for n in range(len(stubs))]
    calls = [(lambda s=s: void(s)) if kind == "void" else (lambda s=s: full_form(s, invoice.id))
             for s, kind in zip(stubs, kinds, strict=True)]  # fmt: skip
    results = await race(calls, head_start={n for n, kind in enumerate(kinds) if kind == first})
    won = assert_one_kind_wins(results, kinds, VOID_OR_FORM_REFUSALS)
    print(f"\nvoid vs red-letter form ({first or 'free'}): {won} won")
    if first is not None:
        assert won == first, "the kind let through first must win"
    (answer,) = [r for r in results if outcome(r) == OK]
    held = ledger(database_url, invoice.id)
    if won == "void":
        assert answer.invoice.state == VOIDED
        assert (held["state"], held["forms"], held["events"]) == (VOIDED, 0, {1: 1, 2: 1})
    else:
        assert answer.state == lc.RED_LETTER_FORM_STATE_NO_CONFIRMATION_NEEDED
        assert answer.amount_fen == -invoice.amount_fen
        assert (held["state"], held["forms"], held["open_forms"], held["events"]) == (ISSUED, 1, 1, {1: 1, 4: 1})


async def test_many_red_letter_forms_on_one_invoice_leave_one_open_form(stubs: list[Any], database_url: str) -> None:
    invoice = await issued(stubs[0], issue_request(E_VAT_GENERAL, new_tax_id()))
    results = await race([lambda s=s: full_form(s, invoice.id) for s in stubs])
    winner = assert_one_winner(results, {"RED_LETTER_FORM_OPEN"})
    form = results[winner]
    assert form.state == lc.RED_LETTER_FORM_STATE_NO_CONFIRMATION_NEEDED  # type: ignore[union-attr]
    held = ledger(database_url, invoice.id)
    assert (held["state"], held["forms"], held["open_forms"]) == (ISSUED, 1, 1)


async def test_many_red_invoices_from_one_form_issue_one(stubs: list[Any], database_url: str) -> None:
    invoice = await issued(stubs[0], issue_request(E_VAT_GENERAL, new_tax_id(), amounts=(12_345, 6_789)))
    form = await full_form(stubs[1], invoice.id)
    results = await race([lambda s=s: issue_red(s, form.id) for s in stubs])
    winner = assert_one_winner(results, {"FORM_ALREADY_ISSUED"})
    answer = results[winner]
    assert answer.original_invoice.state == FULL  # type: ignore[union-attr]
    assert answer.invoice.amount_fen == -invoice.amount_fen and answer.invoice.tax_fen == -invoice.tax_fen  # type: ignore[union-attr]
    held = ledger(database_url, invoice.id)
    assert (held["state"], held["reds"], held["reversed"], held["red_tax"]) == (
        FULL,
        1,
        invoice.amount_fen,
        invoice.tax_fen,
    )


async def test_on_a_partly_reversed_invoice_racing_forms_and_red_invoices_reverse_exactly_the_rest(
    stubs: list[Any], database_url: str
) -> None:
    """Line 1 partly reversed, line 2 untouched: the full forms racing take what is left of both, once."""
    invoice = await issued(stubs[0], issue_request(E_VAT_GENERAL, new_tax_id(), amounts=(12_345, 6_789)))
    request = pb.CreateRedLetterFormRequest(
        request_id=new_request_id(),
        invoice=by_id(invoice.id),
        reason=lc.RED_LETTER_REASON_SALES_DISCOUNT,
        initiator=SELLER,
        items=[pb.RedLetterItem(line_number=1, amount_fen=2_000)],
    )
    await issue_red(stubs[0], (await stubs[0].CreateRedLetterForm(request, timeout=CALL_TIMEOUT)).form.id)
    forms = await race([lambda s=s: full_form(s, invoice.id) for s in stubs])
    form = forms[assert_one_winner(forms, {"RED_LETTER_FORM_OPEN"})]
    assert form.amount_fen == -(invoice.amount_fen - 2_000)  # type: ignore[union-attr]
    reds = await race([lambda s=s: issue_red(s, form.id) for s in stubs])  # type: ignore[union-attr]
    assert reds[assert_one_winner(reds, {"FORM_ALREADY_ISSUED"})].original_invoice.state == FULL  # type: ignore[union-attr]
    held = ledger(database_url, invoice.id)
    assert (held["state"], held["reds"], held["reversed"], held["red_tax"]) == (
        FULL,
        2,
        invoice.amount_fen,
        invoice.tax_fen,
    )


# Once the red invoice is issued the form is spent (FORM_ALREADY_ISSUED); once withdrawn (08) it can be neither
# issued from nor withdrawn again (FORM_STATE).
WITHDRAW_OR_ISSUE_REFUSALS = {
    ("issue", "issue"): "FORM_ALREADY_ISSUED",
    ("issue", "withdraw"): "FORM_ALREADY_ISSUED",
    ("withdraw", "withdraw"): "FORM_STATE",
    ("withdraw", "issue"): "FORM_STATE",
}


@pytest.mark.parametrize("first", [None, "withdraw", "issue"], ids=["free", "withdraw", "issue"])
async def test_withdrawing_a_form_against_issuing_its_red_invoice_one_wins(
    stubs: list[Any], database_url: str, first: str | None
) -> None:
    invoice = await issued(stubs[0], issue_request(E_VAT_GENERAL, new_tax_id()))
    form = await full_form(stubs[1], invoice.id)

    def withdraw(s: Any) -> Awaitable[Any]:
        request = pb.WithdrawRedLetterFormRequest(request_id=new_request_id(), form_id=form.id, party=SELLER)
        return s.WithdrawRedLetterForm(request, timeout=CALL_TIMEOUT)

    kinds = ["issue" if second_kind(n) else "withdraw" for n in range(len(stubs))]
    calls = [(lambda s=s: issue_red(s, form.id)) if kind == "issue" else (lambda s=s: withdraw(s))
             for s, kind in zip(stubs, kinds, strict=True)]  # fmt: skip
    results = await race(calls, head_start={n for n, kind in enumerate(kinds) if kind == first})
    won = assert_one_kind_wins(results, kinds, WITHDRAW_OR_ISSUE_REFUSALS)
    print(f"\nwithdraw vs issue ({first or 'free'}): {won} won")
    if first is not None:
        assert won == first, "the kind let through first must win"
    (answer,) = [r for r in results if outcome(r) == OK]
    held = ledger(database_url, invoice.id)
    if won == "issue":
        assert (answer.original_invoice.state, answer.invoice.amount_fen) == (FULL, -invoice.amount_fen)
        assert (held["state"], held["reds"], held["open_forms"]) == (FULL, 1, 0)
        assert 7 not in held["events"]  # no RED_LETTER_FORM_WITHDRAWN
    else:
        assert answer.form.state == lc.RED_LETTER_FORM_STATE_WITHDRAWN
        assert (held["state"], held["reds"], held["open_forms"]) == (ISSUED, 0, 0)
        assert held["events"].get(7) == 1  # RED_LETTER_FORM_WITHDRAWN, once


async def test_partial_reversals_racing_never_reverse_more_than_the_invoice(
    stubs: list[Any], database_url: str
) -> None:
    """Every client enters partial forms and issues red invoices - its own, or the open one it finds - until it
    has tried a few times; then one full form takes exactly what is left."""
    invoice = await issued(stubs[0], issue_request(E_VAT_GENERAL, new_tax_id(), amounts=(3_000, 2_000)))
    rng = random.Random(20261127)
    plans = [[(rng.choice((1, 2)), rng.choice((0, 150, 333, 700, 1_200))) for _ in range(4)] for _ in stubs]
    outcomes: Counter[str] = Counter()

    async def try_issue_red(s: Any, form_id: str) -> None:
        try:
            await issue_red(s, form_id)
            outcomes["issue:OK"] += 1
        except grpc.aio.AioRpcError as error:
            outcomes[f"issue:{outcome(error)}"] += 1

    async def client(s: Any, plan: list[tuple[int, int]]) -> None:
        for line, amount in plan:
            request = pb.CreateRedLetterFormRequest(
                request_id=new_request_id(),
                invoice=by_id(invoice.id),
                reason=lc.RED_LETTER_REASON_GOODS_RETURNED,
                initiator=SELLER,
                items=[pb.RedLetterItem(line_number=line, amount_fen=amount)],
            )
            try:
                form = (await s.CreateRedLetterForm(request, timeout=CALL_TIMEOUT)).form
                outcomes["form:OK"] += 1
                await try_issue_red(s, form.id)
            except grpc.aio.AioRpcError as error:
                outcomes[f"form:{outcome(error)}"] += 1
                open_form = await open_form_of(s, invoice.id)
                if open_form:
                    await try_issue_red(s, open_form)

    await race([lambda s=s, plan=plan: client(s, plan) for s, plan in zip(stubs, plans, strict=True)])
    print(f"\npartial reversal race: {dict(sorted(outcomes.items()))}")
    assert outcomes["form:OK"] >= 1 and outcomes["issue:OK"] >= 1
    assert not {o for o in outcomes if "INTERNAL" in o or "UNKNOWN" in o or "UNAVAILABLE" in o}, outcomes
    held = ledger(database_url, invoice.id)
    assert held["reds"] == outcomes["issue:OK"]
    if held["open_forms"]:
        await issue_red(stubs[0], await open_form_of(stubs[0], invoice.id))
    if ledger(database_url, invoice.id)["state"] != FULL:
        rest = await full_form(stubs[1], invoice.id)
        assert -rest.amount_fen == invoice.amount_fen - ledger(database_url, invoice.id)["reversed"]
        await issue_red(stubs[2], rest.id)
    final = ledger(database_url, invoice.id)
    assert (final["state"], final["reversed"], final["red_tax"]) == (FULL, invoice.amount_fen, invoice.tax_fen)


async def test_concurrent_issues_number_every_code_densely(stubs: list[Any], database_url: str) -> None:
    """1,000 IssueInvoice calls at once over 40 connections to both servers: per code (or 数电 prefix) the numbers
    are exactly 1..N, none twice, none skipped."""
    sellers = [new_tax_id("110108"), new_tax_id("440305"), new_tax_id("510104")]
    kinds = [VAT_GENERAL, E_VAT_GENERAL, invoice_pb2.INVOICE_TYPE_DIGITAL_GENERAL, invoice_pb2.INVOICE_TYPE_VAT_SPECIAL]
    buyer = new_tax_id("330106")
    requests = [issue_request(kinds[n % 4], sellers[n // 4 % 3], buyer, amounts=(100 + n,)) for n in range(1000)]
    calls = [
        lambda n=n: stubs[n % RACERS].IssueInvoice(requests[n], timeout=CALL_TIMEOUT) for n in range(len(requests))
    ]
    results = await race(calls)
    assert Counter(outcome(r) for r in results) == {OK: 1000}
    numbers = [(r.invoice.invoice_code, r.invoice.invoice_number) for r in results]  # type: ignore[union-attr]
    assert len(set(numbers)) == 1000
    prefixes = {code or number[:5] for code, number in numbers}
    assert len(prefixes) == 12
    with psycopg.connect(database_url) as conn:
        for prefix in prefixes:
            (next_value,) = conn.execute(
                "SELECT next_value FROM number_counters WHERE prefix = %s", (prefix,)
            ).fetchone()  # type: ignore[misc]
            rows = conn.execute(
                "SELECT invoice_number FROM invoices WHERE invoice_code = %(p)s"
                " OR (invoice_code = '' AND left(invoice_number, 5) = %(p)s)",
                {"p": prefix},
            ).fetchall()
            sequence = sorted(int(number if len(number) == 8 else number[5:]) for (number,) in rows)
            assert sequence == list(range(1, next_value)), f"numbers under {prefix} are not exactly 1..N"
