"""The lifecycle rules (docs/domain.md section 5): when an invoice may be voided, certified or reversed, and what a red
invoice reverses. Every rule answers with the refusal it would raise, so GetAllowedActions and the changes
themselves can never disagree."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from .calendar import BUSINESS_TZ, business_date
from .errors import FailedPrecondition, FieldViolation, InvalidArgument
from .invoice import Invoice, InvoiceLine, InvoiceState
from .invoice_types import InvoiceType
from .money import tax_fen
from .red_letter import RedLetterForm, RedLetterReason, TradeParty, check_issuable

# Invoices a buyer certifies (认证/勾选) for input-tax deduction. Our reading of the deduction rules; general
# invoices other than tolls are not deductible and so never certified.
DEDUCTIBLE_TYPES = frozenset(
    {
        InvoiceType.VAT_SPECIAL,
        InvoiceType.FREIGHT_VAT_SPECIAL,
        InvoiceType.MOTOR_VEHICLE,
        InvoiceType.E_VAT_SPECIAL,
        InvoiceType.TOLL,
        InvoiceType.DIGITAL_SPECIAL,
    }
)


class Action(enum.IntEnum):
    """Values equal fapiao.v1.InvoiceAction."""

    VOID = 1
    CERTIFY = 2
    CREATE_RED_LETTER_FORM = 3
    ISSUE_RED_INVOICE = 4


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """What the rules need to know besides the invoice itself."""

    # The seller has reported the tax period (month) the invoice was issued in.
    period_reported: bool = False
    # The form holding the invoice (01-04, red invoice not issued), if any.
    open_form: RedLetterForm | None = None
    # Original line number -> (amount, tax) already reversed on it, both positive.
    reversed_by_line: Mapping[int, tuple[int, int]] | None = None


def _subject(invoice: Invoice) -> str:
    return f"invoices/{invoice.id}"


def _refusal(invoice: Invoice, reason: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(message, reason=reason, subject=_subject(invoice))


def month_end(day: date) -> datetime:
    """The first instant after the Asia/Shanghai calendar month containing ``day``."""
    first_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return datetime.combine(first_next, time(0), BUSINESS_TZ)


def period_of(day: date) -> date:
    """The tax period (the month's first day) a business date falls in."""
    return day.replace(day=1)


def void_refusal(invoice: Invoice, facts: InvoiceFacts, now: datetime) -> FailedPrecondition | None:
    """作废: only paper invoices, only in the Asia/Shanghai month of issue, only while not certified, the period
    not reported, nothing reversed and no red-letter form open."""
    if invoice.red_letter:
        return _refusal(invoice, "RED_INVOICE", "a red invoice cannot be voided")
    if not invoice.invoice_type.paper:
        return _refusal(
            invoice,
            "ELECTRONIC_NOT_VOIDABLE",
            f"type {invoice.invoice_type.code} is electronic and cannot be voided; reverse it with a red-letter form",
        )
    if invoice.state is InvoiceState.VOIDED:
        return _refusal(invoice, "ALREADY_VOIDED", "the invoice is already voided")
    if invoice.state is not InvoiceState.ISSUED:
        return _refusal(invoice, "INVOICE_REVERSED", "the invoice has been reversed by a red invoice")
    if facts.open_form is not None:
        return _refusal(
            invoice, "RED_LETTER_FORM_OPEN", f"red-letter form {facts.open_form.id} is open against the invoice"
        )
    if invoice.certify_time is not None:
        return _refusal(invoice, "CERTIFIED_BY_BUYER", "the buyer has certified the invoice")
    if business_date(now) >= month_end(invoice.issue_date).date():
        return _refusal(
            invoice,
            "VOID_PERIOD_ENDED",
            f"an invoice can be voided only in its month of issue ({invoice.issue_date:%Y-%m}, Asia/Shanghai); "
            "reverse it with a red-letter form",
        )
    if facts.period_reported:
        return _refusal(
            invoice, "PERIOD_REPORTED", f"the seller has reported the tax period {invoice.issue_date:%Y-%m}"
        )
    return None


def certify_refusal(invoice: Invoice, facts: InvoiceFacts) -> FailedPrecondition | None:
    """认证/勾选 by the buyer: deductible types, a registered buyer, once, while the invoice is in force and no
    red-letter form holds it (红字锁定: a seller's form entered as needing no confirmation must stay so)."""
    if invoice.red_letter:
        return _refusal(invoice, "RED_INVOICE", "a red invoice is not certified")
    if invoice.invoice_type not in DEDUCTIBLE_TYPES:
        return _refusal(
            invoice, "NOT_DEDUCTIBLE", f"type {invoice.invoice_type.code} is not deductible and is not certified"
        )
    if not invoice.buyer.tax_id:
        return _refusal(invoice, "BUYER_NOT_REGISTERED", "the buyer has no tax id and cannot certify")
    if invoice.state is InvoiceState.VOIDED:
        return _refusal(invoice, "INVOICE_VOIDED", "the invoice is voided")
    if invoice.state is InvoiceState.FULLY_REVERSED:
        return _refusal(invoice, "INVOICE_FULLY_REVERSED", "the invoice is fully reversed")
    if invoice.certify_time is not None:
        return _refusal(invoice, "ALREADY_CERTIFIED", "the buyer has already certified the invoice")
    if facts.open_form is not None:
        return _refusal(
            invoice, "RED_LETTER_FORM_OPEN", f"red-letter form {facts.open_form.id} is open against the invoice"
        )
    return None


def form_refusal(invoice: Invoice, facts: InvoiceFacts, initiator: TradeParty | None) -> FailedPrecondition | None:
    """Whether a red-letter form may be entered against the invoice (by ``initiator``, if known)."""
    if invoice.red_letter:
        return _refusal(invoice, "RED_INVOICE", "a red invoice cannot itself be reversed")
    if invoice.state is InvoiceState.VOIDED:
        return _refusal(invoice, "INVOICE_VOIDED", "the invoice is voided; there is nothing to reverse")
    if invoice.state is InvoiceState.FULLY_REVERSED:
        return _refusal(invoice, "INVOICE_FULLY_REVERSED", "the invoice is already fully reversed")
    if facts.open_form is not None:
        return _refusal(
            invoice,
            "RED_LETTER_FORM_OPEN",
            f"red-letter form {facts.open_form.id} is already open against the invoice; finish or withdraw it first",
        )
    if initiator is TradeParty.BUYER and not invoice.buyer.tax_id:
        return _refusal(invoice, "BUYER_NOT_REGISTERED", "the buyer has no tax id and cannot enter a form")
    return None


def needs_confirmation(invoice: Invoice, initiator: TradeParty) -> bool:
    return initiator is TradeParty.BUYER or (invoice.certify_time is not None and bool(invoice.buyer.tax_id))


@dataclass(frozen=True, slots=True)
class ReversalItem:
    """Part of an invoice to reverse: one original line, by ``amount_fen`` (0: all that is left of it)."""

    line_number: int
    amount_fen: int = 0


def red_lines(
    invoice: Invoice, facts: InvoiceFacts, reason: RedLetterReason, items: Sequence[ReversalItem]
) -> tuple[InvoiceLine, ...]:
    """The negative lines that reverse ``items`` of the invoice (all that is left of it when ``items`` is empty).

    A line reversed whole takes the tax left on it, so a full reversal nets the invoice to exactly zero; part
    of a line is taxed at the line's rate, half-up, never more than the tax left on it.
    """
    reversed_by_line = facts.reversed_by_line or {}
    if reason is RedLetterReason.ISSUED_IN_ERROR and items:
        raise InvalidArgument(
            [FieldViolation("items", "a form for ISSUED_IN_ERROR reverses everything left; leave items empty")],
            reason="INVALID_RED_LETTER_FORM",
        )
    by_number = {line.line_number: line for line in invoice.lines}
    wanted = list(items) or [ReversalItem(n) for n in sorted(by_number)]
    problems: list[FieldViolation] = []
    seen: set[int] = set()
    for index, item in enumerate(items):
        if item.line_number not in by_number:
            problems.append(
                FieldViolation(f"items[{index}].line_number", f"the invoice has no line {item.line_number}")
            )
        elif item.line_number in seen:
            problems.append(FieldViolation(f"items[{index}].line_number", f"line {item.line_number} is named twice"))
        if item.amount_fen < 0:
            problems.append(FieldViolation(f"items[{index}].amount_fen", "must be positive (or 0 for the whole line)"))
        seen.add(item.line_number)
    if problems:
        raise InvalidArgument(problems, reason="INVALID_RED_LETTER_FORM")
    lines = []
    for item in wanted:
        original = by_number[item.line_number]
        done_amount, done_tax = reversed_by_line.get(item.line_number, (0, 0))
        left_amount, left_tax = original.amount_fen - done_amount, original.tax_fen - done_tax
        if left_amount <= 0:
            if items:
                raise _refusal(invoice, "LINE_FULLY_REVERSED", f"line {item.line_number} is already fully reversed")
            continue
        if item.amount_fen > left_amount:
            raise _refusal(
                invoice,
                "REVERSAL_EXCEEDS_REMAINING",
                f"line {item.line_number} has {left_amount} fen left to reverse; {item.amount_fen} asked",
            )
        whole = item.amount_fen in (0, left_amount)
        amount = left_amount if whole else item.amount_fen
        tax = left_tax if whole else min(tax_fen(amount, original.tax_rate_basis_points), left_tax)
        untouched = whole and done_amount == 0 and reason is not RedLetterReason.SALES_DISCOUNT
        lines.append(
            InvoiceLine(
                line_number=item.line_number,
                item_name=original.item_name,
                amount_fen=-amount,
                tax_rate_basis_points=original.tax_rate_basis_points,
                tax_fen=-max(tax, 0),
                tax_classification_code=original.tax_classification_code,
                specification=original.specification,
                unit=original.unit,
                # Quantities go back only when a whole line is returned; a discount or part changes amounts only.
                quantity=f"-{original.quantity}" if untouched and original.quantity else "",
                unit_price=original.unit_price if untouched and original.quantity else "",
            )
        )
    if not lines:
        raise _refusal(invoice, "INVOICE_FULLY_REVERSED", "nothing is left to reverse")
    reversible = reversible_amount(invoice)
    if -sum(line.amount_fen for line in lines) > reversible:
        raise _refusal(
            invoice, "REVERSAL_EXCEEDS_REMAINING", f"the invoice has {reversible} fen (excluding tax) left to reverse"
        )
    return tuple(lines)


def reversible_amount(invoice: Invoice) -> int:
    """What is left to reverse (excluding tax, fen): nothing on a red, voided or fully reversed invoice. An open
    form does not change it; the form only has to finish first."""
    if invoice.red_letter or invoice.state in (InvoiceState.VOIDED, InvoiceState.FULLY_REVERSED):
        return 0
    return invoice.amount_fen - invoice.reversed_amount_fen


def state_after_reversal(invoice: Invoice, reversed_now: int) -> tuple[InvoiceState, int]:
    """The original's state and total reversed once a red invoice reverses ``reversed_now`` more fen."""
    total = invoice.reversed_amount_fen + reversed_now
    return (InvoiceState.FULLY_REVERSED if total >= invoice.amount_fen else InvoiceState.PARTIALLY_REVERSED), total


@dataclass(frozen=True, slots=True)
class ActionAnswer:
    action: Action
    refusal: FailedPrecondition | None
    deadline: datetime | None = None
    needs_confirmation: bool = False
    reversible_amount_fen: int = 0
    form_id: int | None = None


def allowed_actions(invoice: Invoice, facts: InvoiceFacts, now: datetime) -> list[ActionAnswer]:
    """Every action with whether it is allowed now, and why not or how."""
    void = void_refusal(invoice, facts, now)
    form = form_refusal(invoice, facts, None)
    issue: FailedPrecondition | None = None
    open_form = facts.open_form
    if open_form is None:
        issue = _refusal(invoice, "NO_ISSUABLE_FORM", "no red-letter form is open against the invoice")
    else:
        try:
            check_issuable(open_form, now)
        except FailedPrecondition as error:
            issue = error
    return [
        ActionAnswer(
            Action.VOID,
            void,
            deadline=month_end(invoice.issue_date) if invoice.invoice_type.paper and not invoice.red_letter else None,
        ),
        ActionAnswer(Action.CERTIFY, certify_refusal(invoice, facts)),
        ActionAnswer(
            Action.CREATE_RED_LETTER_FORM,
            form,
            needs_confirmation=needs_confirmation(invoice, TradeParty.SELLER),
            reversible_amount_fen=reversible_amount(invoice),
        ),
        ActionAnswer(Action.ISSUE_RED_INVOICE, issue, form_id=None if open_form is None else open_form.id),
    ]
