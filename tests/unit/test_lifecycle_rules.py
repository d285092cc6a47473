"""The lifecycle rules of docs/domain.md section 5 as pure functions: when an invoice may be voided, certified or
reversed (each refusal, in the order the rules are checked), what a red invoice reverses (exactly, to the fen),
and GetAllowedActions agreeing with the refusals the changes themselves would raise."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest

from fapiao_server.domain.calendar import business_date
from fapiao_server.domain.errors import FailedPrecondition, InvalidArgument
from fapiao_server.domain.invoice import Invoice, InvoiceLine, InvoiceReference, InvoiceState, Party
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.lifecycle import (
    DEDUCTIBLE_TYPES,
    Action,
    InvoiceFacts,
    ReversalItem,
    allowed_actions,
    certify_refusal,
    form_refusal,
    month_end,
    needs_confirmation,
    period_of,
    red_lines,
    state_after_reversal,
    void_refusal,
)
from fapiao_server.domain.money import tax_fen
from fapiao_server.domain.red_letter import (
    CONFIRMATION_WINDOW,
    FormState,
    RedLetterForm,
    RedLetterReason,
    TradeParty,
)
from tests.support.invoices import tax_id

SELLER, BUYER = tax_id("110108"), tax_id("310115")
# 10:00 on 27 November 2026 in Shanghai.
ISSUED_AT = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SOON = ISSUED_AT + timedelta(hours=1)
# line 1: 1000 x 13% = 130; line 2: 333 x 6% = 19.98 -> 20; line 3: 5 x 13% = 0.65 -> 1.
LINES = (
    InvoiceLine(1, "*计算机设备*服务器", 1000, 1300, 130, quantity="4", unit_price="2.5", unit="台"),
    InvoiceLine(2, "*信息技术服务*运维", 333, 600, 20),
    InvoiceLine(3, "*纸制品*标签", 5, 1300, 1),
)
PAPER = (InvoiceType.VAT_SPECIAL, InvoiceType.FREIGHT_VAT_SPECIAL, InvoiceType.MOTOR_VEHICLE,
         InvoiceType.VAT_GENERAL, InvoiceType.VAT_GENERAL_ROLL, InvoiceType.USED_CAR)  # fmt: skip
ELECTRONIC = (InvoiceType.E_VAT_SPECIAL, InvoiceType.E_VAT_GENERAL, InvoiceType.TOLL,
              InvoiceType.DIGITAL_SPECIAL, InvoiceType.DIGITAL_GENERAL)  # fmt: skip
NOTHING = InvoiceFacts()


def invoice(
    kind: InvoiceType = InvoiceType.VAT_SPECIAL,
    *,
    issued_at: datetime = ISSUED_AT,
    lines: tuple[InvoiceLine, ...] = LINES,
    **changes: object,
) -> Invoice:
    """An issued invoice of ``kind`` with ``changes`` applied; its issue date is the Shanghai date of issue."""
    amount, tax = sum(line.amount_fen for line in lines), sum(line.tax_fen for line in lines)
    base = Invoice(
        id=1,
        invoice_type=kind,
        invoice_code="" if kind.digital else "1100269100",
        invoice_number="26112000000000000001" if kind.digital else "00000001",
        issue_date=business_date(issued_at),
        issue_time=issued_at,
        state=InvoiceState.ISSUED,
        seller=Party(SELLER, "卖方"),
        buyer=Party(BUYER, "买方"),
        amount_fen=amount,
        tax_fen=tax,
        total_fen=amount + tax,
        region_code="1100",
        update_time=issued_at,
        lines=lines,
    )
    return replace(base, **changes)


def reversed_invoice(state: InvoiceState = InvoiceState.PARTIALLY_REVERSED, **changes: object) -> Invoice:
    whole = invoice(**changes)
    return replace(whole, state=state, reversed_amount_fen=100 if state is InvoiceState.PARTIALLY_REVERSED else 1338)


def red_invoice(kind: InvoiceType = InvoiceType.VAT_SPECIAL) -> Invoice:
    negative = tuple(replace(line, amount_fen=-line.amount_fen, tax_fen=-line.tax_fen) for line in LINES)
    return invoice(kind, lines=negative, original_invoice=InvoiceReference(1, kind, "1100269100", "00000001"))


def open_form(state: FormState = FormState.NO_CONFIRMATION_NEEDED, *, created: datetime = SOON) -> RedLetterForm:
    awaiting = state in (FormState.AWAITING_BUYER, FormState.AWAITING_SELLER)
    return RedLetterForm(
        id=42,
        original_invoice=InvoiceReference(1, InvoiceType.VAT_SPECIAL, "1100269100", "00000001"),
        reason=RedLetterReason.GOODS_RETURNED,
        state=state,
        initiator=TradeParty.BUYER if state is FormState.AWAITING_SELLER else TradeParty.SELLER,
        seller_tax_id=SELLER,
        buyer_tax_id=BUYER,
        lines=(),
        amount_fen=-100,
        tax_fen=-13,
        total_fen=-113,
        create_time=created,
        update_time=created,
        expire_time=created + CONFIRMATION_WINDOW if awaiting else None,
    )


def reason(refusal: FailedPrecondition | None) -> str | None:
    if refusal is not None:
        assert refusal.subject == "invoices/1"
    return None if refusal is None else refusal.reason


# --- void (作废) ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PAPER)
def test_a_paper_invoice_may_be_voided_in_its_month(kind: InvoiceType) -> None:
    assert void_refusal(invoice(kind), NOTHING, SOON) is None


def test_paper_and_electronic_are_the_types_of_domain_section_5() -> None:
    assert {k for k in InvoiceType if k.paper} == set(PAPER)
    # 14 (通行费) is an electronic general invoice, though section 5 lists only 08, 10, 31 and 32.
    assert {k for k in InvoiceType if not k.paper} == set(ELECTRONIC)


@pytest.mark.parametrize("kind", ELECTRONIC)
def test_an_electronic_invoice_is_never_voided(kind: InvoiceType) -> None:
    assert reason(void_refusal(invoice(kind), NOTHING, SOON)) == "ELECTRONIC_NOT_VOIDABLE"


@dataclass(frozen=True)
class Case:
    invoice: Invoice
    facts: InvoiceFacts
    now: datetime


# Each condition that refuses a void, in the order the rules check them. Applied together with every later
# one (those that can hold at the same time), each must still be the reason given: the order is part of the rule.
VOID_CONDITIONS: list[tuple[str, Callable[[Case], Case]]] = [
    ("RED_INVOICE", lambda c: replace(c, invoice=replace(c.invoice, original_invoice=InvoiceReference(
        9, c.invoice.invoice_type, "1100269100", "00000009")))),
    ("ELECTRONIC_NOT_VOIDABLE", lambda c: replace(c, invoice=replace(
        c.invoice, invoice_type=InvoiceType.E_VAT_SPECIAL))),
    ("ALREADY_VOIDED", lambda c: replace(c, invoice=replace(c.invoice, state=InvoiceState.VOIDED, void_time=SOON))),
    ("INVOICE_REVERSED", lambda c: replace(c, invoice=replace(
        c.invoice, state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=100))),
    ("RED_LETTER_FORM_OPEN", lambda c: replace(c, facts=replace(c.facts, open_form=open_form()))),
    ("CERTIFIED_BY_BUYER", lambda c: replace(c, invoice=replace(c.invoice, certify_time=SOON))),
    ("VOID_PERIOD_ENDED", lambda c: replace(c, now=datetime(2026, 12, 1, 0, 0, tzinfo=UTC))),
    ("PERIOD_REPORTED", lambda c: replace(c, facts=replace(c.facts, period_reported=True))),
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(VOID_CONDITIONS)))
def test_void_refusals_in_order(index: int) -> None:
    expected, _ = VOID_CONDITIONS[index]
    case = Case(invoice(), NOTHING, SOON)
    for later, (name, apply) in enumerate(VOID_CONDITIONS):
        # ALREADY_VOIDED and INVOICE_REVERSED are both states: only one can hold.
        if later == index or (later > index and not (name == "INVOICE_REVERSED" and expected == "ALREADY_VOIDED")):
            case = apply(case)
    assert reason(void_refusal(case.invoice, case.facts, case.now)) == expected


@pytest.mark.parametrize("state", [InvoiceState.PARTIALLY_REVERSED, InvoiceState.FULLY_REVERSED])
def test_a_reversed_invoice_is_not_voided(state: InvoiceState) -> None:
    assert reason(void_refusal(reversed_invoice(state), NOTHING, SOON)) == "INVOICE_REVERSED"


@pytest.mark.parametrize("state", [FormState.NO_CONFIRMATION_NEEDED, FormState.AWAITING_BUYER,
                                   FormState.AWAITING_SELLER, FormState.CONFIRMED])  # fmt: skip
def test_an_open_form_of_any_state_holds_the_invoice(state: FormState) -> None:
    facts = InvoiceFacts(open_form=open_form(state))
    assert reason(void_refusal(invoice(), facts, SOON)) == "RED_LETTER_FORM_OPEN"


def test_the_void_month_ends_at_midnight_shanghai_not_utc() -> None:
    # 23:30 on 30 November in Shanghai is 15:30 UTC; the month ends at 16:00 UTC.
    late = invoice(InvoiceType.VAT_GENERAL, issued_at=datetime(2026, 11, 30, 15, 30, tzinfo=UTC))
    assert late.issue_date == date(2026, 11, 30)
    end = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert month_end(late.issue_date) == end
    assert void_refusal(late, NOTHING, end - timedelta(microseconds=1)) is None
    assert reason(void_refusal(late, NOTHING, end)) == "VOID_PERIOD_ENDED"
    assert reason(void_refusal(late, NOTHING, end + timedelta(days=40))) == "VOID_PERIOD_ENDED"
    # 1 November 00:30 in Shanghai is still 31 October in UTC, and already November for the rule.
    early = invoice(InvoiceType.VAT_GENERAL, issued_at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    assert early.issue_date == date(2026, 11, 1)
    assert void_refusal(early, NOTHING, datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) is None


def test_the_void_month_rolls_over_the_year() -> None:
    december = invoice(InvoiceType.VAT_GENERAL, issued_at=datetime(2026, 12, 15, 4, 0, tzinfo=UTC))
    assert month_end(date(2026, 12, 15)) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert void_refusal(december, NOTHING, datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) is None
    assert reason(void_refusal(december, NOTHING, datetime(2026, 12, 31, 16, 0, tzinfo=UTC))) == "VOID_PERIOD_ENDED"
    assert period_of(date(2026, 12, 15)) == date(2026, 12, 1)


# --- certify (认证/勾选) --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(DEDUCTIBLE_TYPES))
def test_deductible_invoices_are_certified(kind: InvoiceType) -> None:
    assert certify_refusal(invoice(kind), NOTHING) is None
    assert certify_refusal(reversed_invoice(kind=kind), NOTHING) is None


def test_the_deductible_types() -> None:
    # Special invoices of every kind, motor vehicle invoices and tolls carry deductible input tax.
    assert set(DEDUCTIBLE_TYPES) == {InvoiceType.VAT_SPECIAL, InvoiceType.FREIGHT_VAT_SPECIAL,
                                     InvoiceType.MOTOR_VEHICLE, InvoiceType.E_VAT_SPECIAL, InvoiceType.TOLL,
                                     InvoiceType.DIGITAL_SPECIAL}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(set(InvoiceType) - DEDUCTIBLE_TYPES))
def test_general_invoices_are_not_certified(kind: InvoiceType) -> None:
    assert reason(certify_refusal(invoice(kind), NOTHING)) == "NOT_DEDUCTIBLE"


@pytest.mark.parametrize(
    ("expected", "subject", "facts"),
    [
        ("RED_INVOICE", red_invoice(), NOTHING),
        ("BUYER_NOT_REGISTERED", invoice(InvoiceType.TOLL, buyer=Party("", "个人")), NOTHING),
        ("INVOICE_VOIDED", invoice(state=InvoiceState.VOIDED, void_time=SOON), NOTHING),
        ("INVOICE_FULLY_REVERSED", reversed_invoice(InvoiceState.FULLY_REVERSED), NOTHING),
        ("ALREADY_CERTIFIED", invoice(certify_time=SOON), NOTHING),
        ("RED_LETTER_FORM_OPEN", invoice(), InvoiceFacts(open_form=open_form())),
        ("RED_LETTER_FORM_OPEN", invoice(), InvoiceFacts(open_form=open_form(FormState.AWAITING_SELLER))),
    ],
)
def test_certify_refusals(expected: str, subject: Invoice, facts: InvoiceFacts) -> None:
    assert reason(certify_refusal(subject, facts)) == expected


# --- red-letter forms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("initiator", [TradeParty.SELLER, TradeParty.BUYER, None])
def test_a_form_may_be_entered_against_an_issued_or_partly_reversed_invoice(initiator: TradeParty | None) -> None:
    for kind in InvoiceType:
        assert form_refusal(invoice(kind), NOTHING, initiator) is None
        assert form_refusal(reversed_invoice(kind=kind), NOTHING, initiator) is None


@pytest.mark.parametrize(
    ("expected", "subject", "facts", "initiator"),
    [
        ("RED_INVOICE", red_invoice(), NOTHING, TradeParty.SELLER),
        ("INVOICE_VOIDED", invoice(state=InvoiceState.VOIDED, void_time=SOON), NOTHING, TradeParty.SELLER),
        ("INVOICE_FULLY_REVERSED", reversed_invoice(InvoiceState.FULLY_REVERSED), NOTHING, TradeParty.BUYER),
        ("RED_LETTER_FORM_OPEN", invoice(), InvoiceFacts(open_form=open_form()), TradeParty.SELLER),
        ("RED_LETTER_FORM_OPEN", invoice(), InvoiceFacts(open_form=open_form(FormState.CONFIRMED)), None),
        ("BUYER_NOT_REGISTERED", invoice(InvoiceType.VAT_GENERAL, buyer=Party("", "个人")), NOTHING, TradeParty.BUYER),
    ],
)
def test_form_refusals(expected: str, subject: Invoice, facts: InvoiceFacts, initiator: TradeParty | None) -> None:
    assert reason(form_refusal(subject, facts, initiator)) == expected


def test_an_individual_buyers_invoice_is_reversed_by_the_seller_alone() -> None:
    individual = invoice(InvoiceType.VAT_GENERAL, buyer=Party("", "个人"))
    assert form_refusal(individual, NOTHING, TradeParty.SELLER) is None
    assert not needs_confirmation(individual, TradeParty.SELLER)


def test_who_must_confirm() -> None:
    assert not needs_confirmation(invoice(), TradeParty.SELLER)
    assert needs_confirmation(invoice(certify_time=SOON), TradeParty.SELLER)
    assert needs_confirmation(invoice(), TradeParty.BUYER)
    assert needs_confirmation(invoice(certify_time=SOON), TradeParty.BUYER)


# --- red lines -----------------------------------------------------------------------------------------------


def by_line(lines: tuple[InvoiceLine, ...]) -> dict[int, tuple[int, int]]:
    return {line.line_number: (line.amount_fen, line.tax_fen) for line in lines}


@pytest.mark.parametrize("why", list(RedLetterReason))
def test_an_empty_item_list_reverses_everything_exactly(why: RedLetterReason) -> None:
    lines = red_lines(invoice(), NOTHING, why, [])
    assert by_line(lines) == {1: (-1000, -130), 2: (-333, -20), 3: (-5, -1)}
    assert sum(line.amount_fen + line.tax_fen for line in lines) == -invoice().total_fen
    first = lines[0]
    assert (first.item_name, first.tax_rate_basis_points, first.unit) == ("*计算机设备*服务器", 1300, "台")
    # Goods come back only when they are returned: a discount changes amounts, never quantities.
    if why is RedLetterReason.SALES_DISCOUNT:
        assert (first.quantity, first.unit_price) == ("", "")
    else:
        assert (first.quantity, first.unit_price) == ("-4", "2.5")


def test_by_line_and_by_amount() -> None:
    lines = red_lines(invoice(), NOTHING, RedLetterReason.GOODS_RETURNED, [ReversalItem(2), ReversalItem(1, 501)])
    # Line 2 whole, with its own tax; 501 of line 1: 501 x 13% = 65.13 -> 65, and no quantity for a part.
    assert [(line.line_number, line.amount_fen, line.tax_fen, line.quantity) for line in lines] == [
        (2, -333, -20, ""),
        (1, -501, -65, ""),
    ]
    assert red_lines(invoice(), NOTHING, RedLetterReason.GOODS_RETURNED, [ReversalItem(1, 1000)])[0].tax_fen == -130


def test_a_discount_by_amount() -> None:
    (line,) = red_lines(invoice(), NOTHING, RedLetterReason.SALES_DISCOUNT, [ReversalItem(1, 50)])
    assert (line.amount_fen, line.tax_fen, line.quantity, line.unit_price) == (-50, -7, "", "")  # 6.5 -> 7


def test_part_of_a_line_is_taxed_half_up_but_never_beyond_the_tax_left() -> None:
    # 10 fen at 13% carries 1 fen of tax (1.3). 4 fen of it is 0.52 -> 1: that takes all the tax; the next 4 fen
    # would round to 1 again, but no tax is left, so it takes 0; the last 2 fen take what is left: 0.
    small = invoice(lines=(InvoiceLine(1, "*纸制品*标签", 10, 1300, 1),))
    taxes = []
    done: dict[int, tuple[int, int]] = {}
    for amount in (4, 4, 0):
        facts = InvoiceFacts(reversed_by_line=done)
        current = replace(small, reversed_amount_fen=done.get(1, (0, 0))[0])
        (line,) = red_lines(current, facts, RedLetterReason.GOODS_RETURNED, [ReversalItem(1, amount)])
        assert -line.tax_fen <= 1 - done.get(1, (0, 0))[1]
        taxes.append(-line.tax_fen)
        done = {1: (done.get(1, (0, 0))[0] - line.amount_fen, done.get(1, (0, 0))[1] - line.tax_fen)}
    assert taxes == [1, 0, 0]
    assert done == {1: (10, 1)}


@pytest.mark.parametrize("seed", range(20))
def test_partial_reversals_net_to_exactly_zero(seed: int) -> None:
    """Reverse an invoice piece by piece (random lines, random amounts, then whatever is left): the red invoices
    sum to exactly the original's amount and tax, and the original reads FULLY_REVERSED only at the end."""
    rng = random.Random(seed)
    rates = (1300, 900, 600, 500, 300, 100, 0)
    lines = []
    for n in range(1, rng.randint(1, 6) + 1):
        amount, rate = rng.randint(1, 100_000), rng.choice(rates)
        lines.append(InvoiceLine(n, f"*货物*{n}", amount, rate, tax_fen(amount, rate)))
    original = invoice(lines=tuple(lines))
    done: dict[int, tuple[int, int]] = {}
    red_amount = red_tax = 0
    for step in range(rng.randint(1, 8)):
        left = {n: original.lines[n - 1].amount_fen - done.get(n, (0, 0))[0] for n in range(1, len(lines) + 1)}
        candidates = [n for n, amount in left.items() if amount > 0]
        if not candidates:
            break
        picks = rng.sample(candidates, rng.randint(1, len(candidates)))
        items = [ReversalItem(n, rng.randint(1, left[n]) if rng.random() < 0.8 else 0) for n in picks]
        why = rng.choice([RedLetterReason.GOODS_RETURNED, RedLetterReason.SERVICE_TERMINATED,
                          RedLetterReason.SALES_DISCOUNT])  # fmt: skip
        reds = red_lines(original, InvoiceFacts(reversed_by_line=done), why, items)
        for line in reds:
            assert line.amount_fen < 0 and line.tax_fen <= 0
            amount_done, tax_done = done.get(line.line_number, (0, 0))
            done[line.line_number] = (amount_done - line.amount_fen, tax_done - line.tax_fen)
            assert done[line.line_number][1] <= original.lines[line.line_number - 1].tax_fen, f"step {step}"
        red_amount += sum(line.amount_fen for line in reds)
        red_tax += sum(line.tax_fen for line in reds)
        state, total = state_after_reversal(original, -sum(line.amount_fen for line in reds))
        assert state is InvoiceState.PARTIALLY_REVERSED or total == original.amount_fen
        original = replace(original, state=state, reversed_amount_fen=total)
    if original.state is not InvoiceState.FULLY_REVERSED:
        reds = red_lines(original, InvoiceFacts(reversed_by_line=done), RedLetterReason.GOODS_RETURNED, [])
        red_amount += sum(line.amount_fen for line in reds)
        red_tax += sum(line.tax_fen for line in reds)
        state, total = state_after_reversal(original, -sum(line.amount_fen for line in reds))
        original = replace(original, state=state, reversed_amount_fen=total)
    assert original.state is InvoiceState.FULLY_REVERSED
    assert (red_amount, red_tax) == (-original.amount_fen, -original.tax_fen)


def test_issued_in_error_reverses_everything_and_takes_no_items() -> None:
    with pytest.raises(InvalidArgument) as refused:
        red_lines(invoice(), NOTHING, RedLetterReason.ISSUED_IN_ERROR, [ReversalItem(1)])
    assert [v.field for v in refused.value.violations] == ["items"]
    assert refused.value.reason == "INVALID_RED_LETTER_FORM"


def test_bad_items_are_named_all_at_once() -> None:
    items = [ReversalItem(4), ReversalItem(1, 10), ReversalItem(1, 20), ReversalItem(2, -5)]
    with pytest.raises(InvalidArgument) as refused:
        red_lines(invoice(), NOTHING, RedLetterReason.GOODS_RETURNED, items)
    assert [v.field for v in refused.value.violations] == [
        "items[0].line_number",
        "items[2].line_number",
        "items[3].amount_fen",
    ]


def test_more_than_is_left_is_refused() -> None:
    partly = replace(invoice(), state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=600)
    facts = InvoiceFacts(reversed_by_line={1: (600, 78)})
    reversal = RedLetterReason.GOODS_RETURNED

    def refusal(items: list[ReversalItem], on: Invoice = partly, known: InvoiceFacts = facts) -> str:
        with pytest.raises(FailedPrecondition) as refused:
            red_lines(on, known, reversal, items)
        return refused.value.reason

    assert refusal([ReversalItem(1, 401)]) == "REVERSAL_EXCEEDS_REMAINING"
    assert refusal([ReversalItem(3, 6)]) == "REVERSAL_EXCEEDS_REMAINING"
    assert by_line(red_lines(partly, facts, reversal, [ReversalItem(1, 400)])) == {1: (-400, -52)}
    assert by_line(red_lines(partly, facts, reversal, [])) == {1: (-400, -52), 2: (-333, -20), 3: (-5, -1)}
    line_done = InvoiceFacts(reversed_by_line={1: (1000, 130)})
    assert refusal([ReversalItem(1)], replace(partly, reversed_amount_fen=1000), line_done) == "LINE_FULLY_REVERSED"
    everything = InvoiceFacts(reversed_by_line=by_line(LINES))
    assert refusal([], replace(partly, reversed_amount_fen=1338), everything) == "INVOICE_FULLY_REVERSED"


def test_state_after_reversal() -> None:
    whole = invoice()
    assert state_after_reversal(whole, 1) == (InvoiceState.PARTIALLY_REVERSED, 1)
    assert state_after_reversal(whole, 1337) == (InvoiceState.PARTIALLY_REVERSED, 1337)
    assert state_after_reversal(whole, 1338) == (InvoiceState.FULLY_REVERSED, 1338)
    assert state_after_reversal(replace(whole, reversed_amount_fen=1000), 338) == (InvoiceState.FULLY_REVERSED, 1338)


# --- allowed actions ---------------------------------------------------------------------------------------


def _cases() -> list[tuple[str, Invoice, InvoiceFacts, datetime]]:
    late = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    return [
        ("issued special", invoice(), NOTHING, SOON),
        ("issued general", invoice(InvoiceType.VAT_GENERAL), NOTHING, SOON),
        ("electronic", invoice(InvoiceType.DIGITAL_GENERAL), NOTHING, SOON),
        ("certified", invoice(certify_time=SOON), NOTHING, SOON),
        ("next month", invoice(), NOTHING, late),
        ("reported", invoice(), InvoiceFacts(period_reported=True), SOON),
        ("voided", invoice(state=InvoiceState.VOIDED, void_time=SOON), NOTHING, SOON),
        ("partly reversed", reversed_invoice(), InvoiceFacts(reversed_by_line={1: (100, 13)}), SOON),
        ("fully reversed", reversed_invoice(InvoiceState.FULLY_REVERSED), NOTHING, SOON),
        ("red", red_invoice(), NOTHING, SOON),
        ("form 01", invoice(), InvoiceFacts(open_form=open_form()), SOON),
        ("form 02", invoice(certify_time=SOON), InvoiceFacts(open_form=open_form(FormState.AWAITING_BUYER)), SOON),
        ("form 03", invoice(), InvoiceFacts(open_form=open_form(FormState.AWAITING_SELLER)), SOON),
        ("form 04", invoice(), InvoiceFacts(open_form=open_form(FormState.CONFIRMED)), SOON),
        ("form 02 past 72 hours", invoice(certify_time=SOON),
         InvoiceFacts(open_form=open_form(FormState.AWAITING_BUYER)), SOON + timedelta(hours=72)),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "subject", "facts", "now"), _cases(), ids=[c[0] for c in _cases()])
def test_allowed_actions_agree_with_the_refusals(
    name: str, subject: Invoice, facts: InvoiceFacts, now: datetime
) -> None:
    answers = {answer.action: answer for answer in allowed_actions(subject, facts, now)}
    assert list(answers) == [Action.VOID, Action.CERTIFY, Action.CREATE_RED_LETTER_FORM, Action.ISSUE_RED_INVOICE]
    assert reason(answers[Action.VOID].refusal) == reason(void_refusal(subject, facts, now))
    assert reason(answers[Action.CERTIFY].refusal) == reason(certify_refusal(subject, facts))
    assert reason(answers[Action.CREATE_RED_LETTER_FORM].refusal) == reason(form_refusal(subject, facts, None))
    paper_original = subject.invoice_type.paper and not subject.red_letter
    assert answers[Action.VOID].deadline == (month_end(subject.issue_date) if paper_original else None)
    create = answers[Action.CREATE_RED_LETTER_FORM]
    assert create.needs_confirmation == needs_confirmation(subject, TradeParty.SELLER)
    refused_for_good = create.refusal is not None and create.refusal.reason != "RED_LETTER_FORM_OPEN"
    assert create.reversible_amount_fen == (0 if refused_for_good else subject.amount_fen - subject.reversed_amount_fen)
    issue = answers[Action.ISSUE_RED_INVOICE]
    if facts.open_form is None:
        assert reason(issue.refusal) == "NO_ISSUABLE_FORM" and issue.form_id is None
    else:
        assert issue.form_id == 42
        expected = {FormState.NO_CONFIRMATION_NEEDED: None, FormState.CONFIRMED: None}.get(
            facts.open_form.effective_state(now), "FORM_EXPIRED" if now >= SOON + CONFIRMATION_WINDOW else "FORM_STATE"
        )
        assert (None if issue.refusal is None else issue.refusal.reason) == expected


def test_allowed_actions_of_a_fresh_special_invoice() -> None:
    answers = {a.action: a for a in allowed_actions(invoice(), NOTHING, SOON)}
    assert answers[Action.VOID].refusal is None
    assert answers[Action.VOID].deadline == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert answers[Action.CERTIFY].refusal is None
    assert answers[Action.CREATE_RED_LETTER_FORM].refusal is None
    assert answers[Action.CREATE_RED_LETTER_FORM].reversible_amount_fen == 1338
    assert not answers[Action.CREATE_RED_LETTER_FORM].needs_confirmation


# --- what a red line copies, and the edges of what is left ----------------------------------------------------

# Every field a line carries, distinct per line, so a red line that drops a field or takes it from the wrong line
# is seen.
FULL_LINES = (
    InvoiceLine(1, "*计算机设备*服务器", 1000, 1300, 130, tax_classification_code="1090511030000000000",
                specification="X86-2U", unit="台", quantity="4", unit_price="2.5"),
    InvoiceLine(2, "*信息技术服务*运维", 333, 600, 20, tax_classification_code="3040201990000000000",
                specification="年度", unit="项"),
)  # fmt: skip


def copied_fields(red: InvoiceLine, original: InvoiceLine, *, quantity: str, unit_price: str) -> None:
    """The red line is the original line, negated, with the quantity and unit price given. Every field of
    InvoiceLine is named here: a new field must be decided on (copied or not), not silently left out."""
    expected = {
        "line_number": original.line_number,
        "item_name": original.item_name,
        "amount_fen": red.amount_fen,  # checked by the callers, amount by amount
        "tax_rate_basis_points": original.tax_rate_basis_points,
        "tax_fen": red.tax_fen,
        "tax_classification_code": original.tax_classification_code,
        "specification": original.specification,
        "unit": original.unit,
        "quantity": quantity,
        "unit_price": unit_price,
    }
    assert set(expected) == {f.name for f in fields(InvoiceLine)}
    assert {name: getattr(red, name) for name in expected} == expected


@pytest.mark.parametrize("why", [RedLetterReason.GOODS_RETURNED, RedLetterReason.SERVICE_TERMINATED,
                                 RedLetterReason.ISSUED_IN_ERROR])  # fmt: skip
def test_a_line_returned_whole_is_the_original_negated_field_by_field(why: RedLetterReason) -> None:
    original = invoice(lines=FULL_LINES)
    first, second = red_lines(original, NOTHING, why, [])
    assert by_line((first, second)) == {1: (-1000, -130), 2: (-333, -20)}
    # The goods come back: the quantity, negated, at the original's unit price.
    copied_fields(first, FULL_LINES[0], quantity="-4", unit_price="2.5")
    # A line sold without a quantity goes back without one (not "-").
    copied_fields(second, FULL_LINES[1], quantity="", unit_price="")


def test_a_discount_or_a_part_of_a_line_copies_the_line_but_no_quantity() -> None:
    original = invoice(lines=FULL_LINES)
    (discount,) = red_lines(original, NOTHING, RedLetterReason.SALES_DISCOUNT, [ReversalItem(1)])
    assert by_line((discount,)) == {1: (-1000, -130)}
    copied_fields(discount, FULL_LINES[0], quantity="", unit_price="")
    (part,) = red_lines(original, NOTHING, RedLetterReason.GOODS_RETURNED, [ReversalItem(1, 500)])
    assert by_line((part,)) == {1: (-500, -65)}
    copied_fields(part, FULL_LINES[0], quantity="", unit_price="")
    # The rest of a line already reversed in part: whole, but not the whole quantity, so none.
    partly = replace(original, state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=500)
    (rest,) = red_lines(partly, InvoiceFacts(reversed_by_line={1: (500, 65)}), RedLetterReason.GOODS_RETURNED,
                        [ReversalItem(1)])  # fmt: skip
    assert by_line((rest,)) == {1: (-500, -65)}
    copied_fields(rest, FULL_LINES[0], quantity="", unit_price="")


def refused_by(call: Callable[[], object]) -> FailedPrecondition:
    with pytest.raises(FailedPrecondition) as refused:
        call()
    assert refused.value.subject == "invoices/1"
    return refused.value


def test_exactly_what_is_left_of_a_line_is_reversed_and_one_fen_more_is_refused() -> None:
    partly = replace(invoice(), state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=600)
    facts = InvoiceFacts(reversed_by_line={1: (600, 78)})
    reversal = RedLetterReason.GOODS_RETURNED
    assert by_line(red_lines(partly, facts, reversal, [ReversalItem(1, 400)])) == {1: (-400, -52)}
    error = refused_by(lambda: red_lines(partly, facts, reversal, [ReversalItem(1, 401)]))
    assert (error.reason, error.message) == (
        "REVERSAL_EXCEEDS_REMAINING",
        "line 1 has 400 fen left to reverse; 401 asked",
    )


def test_asking_for_exactly_what_is_left_takes_the_tax_left_not_the_tax_recomputed() -> None:
    # Three reversals of 3 fen each took no tax (0.39 -> 0): 991 fen are left with all 130 fen of tax, though
    # 991 x 13% alone rounds to 129. Asked by amount or as the rest of the line, the line nets to zero.
    assert tax_fen(991, 1300) == 129
    partly = replace(invoice(), state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=9)
    facts = InvoiceFacts(reversed_by_line={1: (9, 0)})
    for item in (ReversalItem(1, 991), ReversalItem(1)):
        assert by_line(red_lines(partly, facts, RedLetterReason.GOODS_RETURNED, [item])) == {1: (-991, -130)}


def test_a_line_with_one_fen_left_is_reversed_by_one_fen_and_not_two() -> None:
    # Line 3 is 5 fen with 1 fen of tax; 4 fen of it went back with that fen (0.52 -> 1): 1 fen is left, no tax.
    partly = replace(invoice(), state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=4)
    facts = InvoiceFacts(reversed_by_line={3: (4, 1)})
    reversal = RedLetterReason.GOODS_RETURNED
    assert by_line(red_lines(partly, facts, reversal, [ReversalItem(3, 1)])) == {3: (-1, 0)}
    assert by_line(red_lines(partly, facts, reversal, [ReversalItem(3)])) == {3: (-1, 0)}
    assert by_line(red_lines(partly, facts, reversal, [])) == {1: (-1000, -130), 2: (-333, -20), 3: (-1, 0)}
    error = refused_by(lambda: red_lines(partly, facts, reversal, [ReversalItem(3, 2)]))
    assert (error.reason, error.message) == ("REVERSAL_EXCEEDS_REMAINING", "line 3 has 1 fen left to reverse; 2 asked")
    # Once that fen is reversed too, the line is done: named, it is refused; in "everything left", skipped.
    done = replace(partly, reversed_amount_fen=5)
    line_done = InvoiceFacts(reversed_by_line={3: (5, 1)})
    error = refused_by(lambda: red_lines(done, line_done, reversal, [ReversalItem(3, 1)]))
    assert (error.reason, error.message) == ("LINE_FULLY_REVERSED", "line 3 is already fully reversed")
    assert by_line(red_lines(done, line_done, reversal, [])) == {1: (-1000, -130), 2: (-333, -20)}


def test_a_fully_reversed_first_line_is_skipped_and_the_later_lines_still_reversed() -> None:
    partly = replace(invoice(), state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=1000)
    facts = InvoiceFacts(reversed_by_line={1: (1000, 130)})
    assert by_line(red_lines(partly, facts, RedLetterReason.GOODS_RETURNED, [])) == {2: (-333, -20), 3: (-5, -1)}
    everything = InvoiceFacts(reversed_by_line=by_line(LINES))
    error = refused_by(lambda: red_lines(replace(partly, reversed_amount_fen=1338), everything,
                                         RedLetterReason.GOODS_RETURNED, []))  # fmt: skip
    assert (error.reason, error.message) == ("INVOICE_FULLY_REVERSED", "nothing is left to reverse")


def test_the_invoice_total_left_bounds_a_reversal_even_when_every_line_has_room() -> None:
    """The lines' reversals and the invoice's reversed amount are read separately; should they ever disagree
    (here the invoice has 1000 fen reversed that no red line accounts for), the invoice's total left wins."""
    ahead = replace(invoice(), state=InvoiceState.PARTIALLY_REVERSED, reversed_amount_fen=1000)
    reversal = RedLetterReason.GOODS_RETURNED
    # 333 + 5 = 338: exactly what the invoice has left.
    exact = [ReversalItem(2), ReversalItem(3)]
    assert by_line(red_lines(ahead, NOTHING, reversal, exact)) == {2: (-333, -20), 3: (-5, -1)}
    message = "the invoice has 338 fen (excluding tax) left to reverse"
    for too_much in ([*exact, ReversalItem(1, 1)], [ReversalItem(1, 339)], []):
        error = refused_by(partial(red_lines, ahead, NOTHING, reversal, too_much))
        assert (error.reason, error.message) == ("REVERSAL_EXCEEDS_REMAINING", message)
    # A voided invoice has nothing left to reverse, whatever its lines say.
    voided = invoice(state=InvoiceState.VOIDED, void_time=SOON)
    error = refused_by(lambda: red_lines(voided, NOTHING, reversal, [ReversalItem(3, 1)]))
    assert (error.reason, error.message) == (
        "REVERSAL_EXCEEDS_REMAINING",
        "the invoice has 0 fen (excluding tax) left to reverse",
    )


def test_bad_items_say_what_is_wrong_with_each() -> None:
    with pytest.raises(InvalidArgument) as refused:
        red_lines(invoice(), NOTHING, RedLetterReason.ISSUED_IN_ERROR, [ReversalItem(1)])
    assert refused.value.reason == "INVALID_RED_LETTER_FORM"
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("items", "a form for ISSUED_IN_ERROR reverses everything left; leave items empty")
    ]
    items = [ReversalItem(4), ReversalItem(1, 10), ReversalItem(1, 20), ReversalItem(2, -5), ReversalItem(3, 0)]
    with pytest.raises(InvalidArgument) as refused:
        red_lines(invoice(), NOTHING, RedLetterReason.GOODS_RETURNED, items)
    assert refused.value.reason == "INVALID_RED_LETTER_FORM"
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("items[0].line_number", "the invoice has no line 4"),
        ("items[2].line_number", "line 1 is named twice"),
        ("items[3].amount_fen", "must be positive (or 0 for the whole line)"),
    ]


# --- what each refusal says ------------------------------------------------------------------------------------

LATE = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
INDIVIDUAL = Party("", "个人")
# Each refusal of the rules, with the reason clients branch on and the message a user reads (the CLI prints it
# as is): both are part of the API, so each is pinned here exactly.
REFUSALS: list[tuple[str, Callable[[], FailedPrecondition | None], str, str]] = [
    ("void red", lambda: void_refusal(red_invoice(), NOTHING, SOON),
     "RED_INVOICE", "a red invoice cannot be voided"),
    ("void electronic", lambda: void_refusal(invoice(InvoiceType.E_VAT_GENERAL), NOTHING, SOON),
     "ELECTRONIC_NOT_VOIDABLE", "type 10 is electronic and cannot be voided; reverse it with a red-letter form"),
    ("void voided", lambda: void_refusal(invoice(state=InvoiceState.VOIDED, void_time=SOON), NOTHING, SOON),
     "ALREADY_VOIDED", "the invoice is already voided"),
    ("void reversed", lambda: void_refusal(reversed_invoice(), NOTHING, SOON),
     "INVOICE_REVERSED", "the invoice has been reversed by a red invoice"),
    ("void held", lambda: void_refusal(invoice(), InvoiceFacts(open_form=open_form()), SOON),
     "RED_LETTER_FORM_OPEN", "red-letter form 42 is open against the invoice"),
    ("void certified", lambda: void_refusal(invoice(certify_time=SOON), NOTHING, SOON),
     "CERTIFIED_BY_BUYER", "the buyer has certified the invoice"),
    ("void late", lambda: void_refusal(invoice(), NOTHING, LATE),
     "VOID_PERIOD_ENDED", "an invoice can be voided only in its month of issue (2026-11, Asia/Shanghai); "
                          "reverse it with a red-letter form"),
    ("void reported", lambda: void_refusal(invoice(), InvoiceFacts(period_reported=True), SOON),
     "PERIOD_REPORTED", "the seller has reported the tax period 2026-11"),
    ("certify red", lambda: certify_refusal(red_invoice(), NOTHING),
     "RED_INVOICE", "a red invoice is not certified"),
    ("certify general", lambda: certify_refusal(invoice(InvoiceType.VAT_GENERAL), NOTHING),
     "NOT_DEDUCTIBLE", "type 04 is not deductible and is not certified"),
    ("certify individual", lambda: certify_refusal(invoice(InvoiceType.TOLL, buyer=INDIVIDUAL), NOTHING),
     "BUYER_NOT_REGISTERED", "the buyer has no tax id and cannot certify"),
    ("certify voided", lambda: certify_refusal(invoice(state=InvoiceState.VOIDED, void_time=SOON), NOTHING),
     "INVOICE_VOIDED", "the invoice is voided"),
    ("certify fully reversed", lambda: certify_refusal(reversed_invoice(InvoiceState.FULLY_REVERSED), NOTHING),
     "INVOICE_FULLY_REVERSED", "the invoice is fully reversed"),
    ("certify twice", lambda: certify_refusal(invoice(certify_time=SOON), NOTHING),
     "ALREADY_CERTIFIED", "the buyer has already certified the invoice"),
    ("certify held", lambda: certify_refusal(invoice(), InvoiceFacts(open_form=open_form())),
     "RED_LETTER_FORM_OPEN", "red-letter form 42 is open against the invoice"),
    ("form on red", lambda: form_refusal(red_invoice(), NOTHING, TradeParty.SELLER),
     "RED_INVOICE", "a red invoice cannot itself be reversed"),
    ("form on voided", lambda: form_refusal(invoice(state=InvoiceState.VOIDED, void_time=SOON), NOTHING, None),
     "INVOICE_VOIDED", "the invoice is voided; there is nothing to reverse"),
    ("form on fully reversed",
     lambda: form_refusal(reversed_invoice(InvoiceState.FULLY_REVERSED), NOTHING, TradeParty.SELLER),
     "INVOICE_FULLY_REVERSED", "the invoice is already fully reversed"),
    ("second form", lambda: form_refusal(invoice(), InvoiceFacts(open_form=open_form()), TradeParty.BUYER),
     "RED_LETTER_FORM_OPEN", "red-letter form 42 is already open against the invoice; finish or withdraw it first"),
    ("form by individual",
     lambda: form_refusal(invoice(InvoiceType.VAT_GENERAL, buyer=INDIVIDUAL), NOTHING, TradeParty.BUYER),
     "BUYER_NOT_REGISTERED", "the buyer has no tax id and cannot enter a form"),
    ("nothing to issue from",
     lambda: {a.action: a for a in allowed_actions(invoice(), NOTHING, SOON)}[Action.ISSUE_RED_INVOICE].refusal,
     "NO_ISSUABLE_FORM", "no red-letter form is open against the invoice"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "expected", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_names_its_rule_and_says_why(
    name: str, call: Callable[[], FailedPrecondition | None], expected: str, message: str
) -> None:
    refusal = call()
    assert reason(refusal) == expected
    assert refusal is not None and refusal.message == message and str(refusal) == message
