"""Red-letter confirmation forms (红字确认单) and their state machine (docs/domain.md section 5)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import FailedPrecondition
from .invoice import InvoiceLine, InvoiceReference

# A form awaiting the other party becomes void (07) this long after it was entered.
CONFIRMATION_WINDOW = timedelta(hours=72)


class TradeParty(enum.IntEnum):
    SELLER = 1
    BUYER = 2

    @property
    def other(self) -> TradeParty:
        return TradeParty.BUYER if self is TradeParty.SELLER else TradeParty.SELLER


class RedLetterReason(enum.IntEnum):
    ISSUED_IN_ERROR = 1  # 开票有误
    GOODS_RETURNED = 2  # 销货退回
    SERVICE_TERMINATED = 3  # 服务中止
    SALES_DISCOUNT = 4  # 销售折让


class FormState(enum.IntEnum):
    """The national state codes 01-09; values equal the proto enum numbers."""

    NO_CONFIRMATION_NEEDED = 1
    AWAITING_BUYER = 2
    AWAITING_SELLER = 3
    CONFIRMED = 4
    REFUSED_BY_BUYER = 5
    REFUSED_BY_SELLER = 6
    EXPIRED = 7
    WITHDRAWN = 8
    WITHDRAWN_AFTER_CONFIRMATION = 9


# States in which a form holds its invoice (no other form, no voiding) until its red invoice is issued.
OPEN_STATES = frozenset({FormState.NO_CONFIRMATION_NEEDED, FormState.AWAITING_BUYER, FormState.AWAITING_SELLER,
                         FormState.CONFIRMED})  # fmt: skip
ISSUABLE_STATES = frozenset({FormState.NO_CONFIRMATION_NEEDED, FormState.CONFIRMED})
_AWAITED = {FormState.AWAITING_BUYER: TradeParty.BUYER, FormState.AWAITING_SELLER: TradeParty.SELLER}


@dataclass(frozen=True, slots=True)
class RedLetterForm:
    id: int
    original_invoice: InvoiceReference
    reason: RedLetterReason
    state: FormState
    initiator: TradeParty
    seller_tax_id: str
    buyer_tax_id: str
    # Negative lines; line_number is the original line each reverses.
    lines: tuple[InvoiceLine, ...]
    amount_fen: int
    tax_fen: int
    total_fen: int
    create_time: datetime
    update_time: datetime
    expire_time: datetime | None = None
    red_invoice: InvoiceReference | None = None
    remarks: str = ""

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES and self.red_invoice is None

    def effective_state(self, now: datetime) -> FormState:
        """The state as of ``now``: a form left unanswered past its deadline is void, whether or not the sweep
        has written that down yet."""
        if self.state in _AWAITED and self.expire_time is not None and now >= self.expire_time:
            return FormState.EXPIRED
        return self.state


def initial_state(initiator: TradeParty, *, buyer_certified: bool, buyer_registered: bool) -> FormState:
    """A seller's form needs the buyer's confirmation only if the buyer has certified (used) the invoice and is a
    registered taxpayer; a buyer's form always needs the seller's."""
    if initiator is TradeParty.BUYER:
        return FormState.AWAITING_SELLER
    if buyer_certified and buyer_registered:
        return FormState.AWAITING_BUYER
    return FormState.NO_CONFIRMATION_NEEDED


def _refuse(form: RedLetterForm, state: FormState, action: str) -> FailedPrecondition:
    if state is FormState.EXPIRED:
        return FailedPrecondition(
            f"red-letter form {form.id} went unanswered for 72 hours and is void (07); enter a new one",
            reason="FORM_EXPIRED",
            subject=f"red_letter_forms/{form.id}",
        )
    if form.red_invoice is not None:
        return FailedPrecondition(
            f"the red invoice of form {form.id} is already issued; the form can no longer be {action}",
            reason="FORM_ALREADY_ISSUED",
            subject=f"red_letter_forms/{form.id}",
        )
    return FailedPrecondition(
        f"red-letter form {form.id} is in state {state.value:02d} ({state.name}) and cannot be {action}",
        reason="FORM_STATE",
        subject=f"red_letter_forms/{form.id}",
    )


def _answer(form: RedLetterForm, party: TradeParty, now: datetime, action: str) -> FormState:
    state = form.effective_state(now)
    awaited = _AWAITED.get(state)
    if awaited is None or form.red_invoice is not None:
        raise _refuse(form, state, action)
    if party is not awaited:
        raise FailedPrecondition(
            f"red-letter form {form.id} awaits the {awaited.name.lower()}, not the {party.name.lower()}",
            reason="NOT_AWAITED_PARTY",
            subject=f"red_letter_forms/{form.id}",
        )
    return state


def confirm(form: RedLetterForm, party: TradeParty, now: datetime) -> FormState:
    """02/03 -> 04, by the party the form awaits."""
    _answer(form, party, now, "confirmed")
    return FormState.CONFIRMED


def reject(form: RedLetterForm, party: TradeParty, now: datetime) -> FormState:
    """02 -> 05 (buyer refuses), 03 -> 06 (seller refuses)."""
    state = _answer(form, party, now, "refused")
    return FormState.REFUSED_BY_BUYER if state is FormState.AWAITING_BUYER else FormState.REFUSED_BY_SELLER


def withdraw(form: RedLetterForm, party: TradeParty, now: datetime) -> FormState:
    """By the initiator, before the red invoice is issued: -> 08, or 09 once confirmed."""
    state = form.effective_state(now)
    if state not in OPEN_STATES or form.red_invoice is not None:
        raise _refuse(form, state, "withdrawn")
    if party is not form.initiator:
        raise FailedPrecondition(
            f"only the form's initiator (the {form.initiator.name.lower()}) may withdraw it",
            reason="NOT_INITIATOR",
            subject=f"red_letter_forms/{form.id}",
        )
    return FormState.WITHDRAWN_AFTER_CONFIRMATION if state is FormState.CONFIRMED else FormState.WITHDRAWN


def check_issuable(form: RedLetterForm, now: datetime) -> None:
    """Only a form in 01 or 04 whose red invoice is not yet issued lets the seller issue it."""
    state = form.effective_state(now)
    if state not in ISSUABLE_STATES or form.red_invoice is not None:
        raise _refuse(form, state, "issued from")
