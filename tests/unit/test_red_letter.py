"""The red-letter confirmation form (红字确认单) state machine, docs/domain.md section 5: every transition between the
national states 01-09, allowed and refused, by the right and the wrong party, and the 72-hour expiry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from fapiao_server.domain.errors import FailedPrecondition
from fapiao_server.domain.invoice import InvoiceReference
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.red_letter import (
    CONFIRMATION_WINDOW,
    ISSUABLE_STATES,
    OPEN_STATES,
    FormState,
    RedLetterForm,
    RedLetterReason,
    TradeParty,
    check_issuable,
    confirm,
    initial_state,
    reject,
    withdraw,
)

CREATED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SOON = CREATED + timedelta(hours=1)
SELLER, BUYER = TradeParty.SELLER, TradeParty.BUYER
S = FormState
AWAITING = {S.AWAITING_BUYER: BUYER, S.AWAITING_SELLER: SELLER}
TERMINAL = (S.REFUSED_BY_BUYER, S.REFUSED_BY_SELLER, S.EXPIRED, S.WITHDRAWN, S.WITHDRAWN_AFTER_CONFIRMATION)
RED = InvoiceReference(2, InvoiceType.VAT_SPECIAL, "1100269100", "00000002")


def form(state: FormState, initiator: TradeParty | None = None, *, issued: bool = False) -> RedLetterForm:
    """A form in ``state``; awaiting forms carry their 72-hour deadline, as the service writes them."""
    if initiator is None:
        initiator = BUYER if state in (S.AWAITING_SELLER, S.REFUSED_BY_SELLER) else SELLER
    return RedLetterForm(
        id=7,
        original_invoice=InvoiceReference(1, InvoiceType.VAT_SPECIAL, "1100269100", "00000001"),
        reason=RedLetterReason.GOODS_RETURNED,
        state=state,
        initiator=initiator,
        seller_tax_id="91110108MA01ABCDE1",
        buyer_tax_id="91310115MA01ABCDE2",
        lines=(),
        amount_fen=-100,
        tax_fen=-13,
        total_fen=-113,
        create_time=CREATED,
        update_time=CREATED,
        expire_time=CREATED + CONFIRMATION_WINDOW if state in AWAITING else None,
        red_invoice=RED if issued else None,
    )


def refusal(action: Callable[[], object]) -> str:
    with pytest.raises(FailedPrecondition) as refused:
        action()
    assert refused.value.subject == "red_letter_forms/7"
    return refused.value.reason


# --- 01 / 02 / 03: where a form starts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initiator", "certified", "registered", "state"),
    [
        (SELLER, False, True, S.NO_CONFIRMATION_NEEDED),
        (SELLER, False, False, S.NO_CONFIRMATION_NEEDED),
        (SELLER, True, True, S.AWAITING_BUYER),
        (SELLER, True, False, S.NO_CONFIRMATION_NEEDED),
        (BUYER, False, True, S.AWAITING_SELLER),
        (BUYER, True, True, S.AWAITING_SELLER),
    ],
)
def test_initial_state(initiator: TradeParty, certified: bool, registered: bool, state: FormState) -> None:
    assert initial_state(initiator, buyer_certified=certified, buyer_registered=registered) is state


def test_the_state_sets() -> None:
    assert {s.value for s in FormState} == set(range(1, 10))
    assert set(OPEN_STATES) == {S.NO_CONFIRMATION_NEEDED, S.AWAITING_BUYER, S.AWAITING_SELLER, S.CONFIRMED}
    assert set(ISSUABLE_STATES) == {S.NO_CONFIRMATION_NEEDED, S.CONFIRMED}
    assert SELLER.other is BUYER and BUYER.other is SELLER


# --- confirm: 02/03 -> 04 by the awaited party ---------------------------------------------------------------


@pytest.mark.parametrize("state", list(AWAITING))
def test_the_awaited_party_confirms(state: FormState) -> None:
    assert confirm(form(state), AWAITING[state], SOON) is S.CONFIRMED


@pytest.mark.parametrize("state", list(AWAITING))
def test_the_initiator_cannot_confirm_its_own_form(state: FormState) -> None:
    assert refusal(lambda: confirm(form(state), AWAITING[state].other, SOON)) == "NOT_AWAITED_PARTY"


@pytest.mark.parametrize("state", [S.NO_CONFIRMATION_NEEDED, S.CONFIRMED, *TERMINAL])
@pytest.mark.parametrize("party", [SELLER, BUYER])
def test_a_form_awaiting_nobody_cannot_be_confirmed(state: FormState, party: TradeParty) -> None:
    expected = "FORM_EXPIRED" if state is S.EXPIRED else "FORM_STATE"
    assert refusal(lambda: confirm(form(state), party, SOON)) == expected


# --- reject: 02 -> 05, 03 -> 06 ------------------------------------------------------------------------------


def test_the_buyer_refuses_a_sellers_form_05_and_the_seller_a_buyers_06() -> None:
    assert reject(form(S.AWAITING_BUYER), BUYER, SOON) is S.REFUSED_BY_BUYER
    assert reject(form(S.AWAITING_SELLER), SELLER, SOON) is S.REFUSED_BY_SELLER


@pytest.mark.parametrize("state", list(AWAITING))
def test_the_initiator_cannot_refuse_its_own_form(state: FormState) -> None:
    assert refusal(lambda: reject(form(state), AWAITING[state].other, SOON)) == "NOT_AWAITED_PARTY"


@pytest.mark.parametrize("state", [S.NO_CONFIRMATION_NEEDED, S.CONFIRMED, *TERMINAL])
@pytest.mark.parametrize("party", [SELLER, BUYER])
def test_a_form_awaiting_nobody_cannot_be_refused(state: FormState, party: TradeParty) -> None:
    expected = "FORM_EXPIRED" if state is S.EXPIRED else "FORM_STATE"
    assert refusal(lambda: reject(form(state), party, SOON)) == expected


# --- withdraw: -> 08 before confirmation, -> 09 after, by the initiator --------------------------------------


@pytest.mark.parametrize(
    ("state", "initiator", "after"),
    [
        (S.NO_CONFIRMATION_NEEDED, SELLER, S.WITHDRAWN),
        (S.AWAITING_BUYER, SELLER, S.WITHDRAWN),
        (S.AWAITING_SELLER, BUYER, S.WITHDRAWN),
        (S.CONFIRMED, SELLER, S.WITHDRAWN_AFTER_CONFIRMATION),
        (S.CONFIRMED, BUYER, S.WITHDRAWN_AFTER_CONFIRMATION),
    ],
)
def test_the_initiator_withdraws(state: FormState, initiator: TradeParty, after: FormState) -> None:
    assert withdraw(form(state, initiator), initiator, SOON) is after
    assert refusal(lambda: withdraw(form(state, initiator), initiator.other, SOON)) == "NOT_INITIATOR"


@pytest.mark.parametrize("state", TERMINAL)
@pytest.mark.parametrize("party", [SELLER, BUYER])
def test_a_void_form_cannot_be_withdrawn(state: FormState, party: TradeParty) -> None:
    expected = "FORM_EXPIRED" if state is S.EXPIRED else "FORM_STATE"
    assert refusal(lambda: withdraw(form(state), party, SOON)) == expected


# --- issuing the red invoice: only from 01 and 04, once ----------------------------------------------------


@pytest.mark.parametrize("state", list(FormState))
def test_only_01_and_04_let_the_seller_issue(state: FormState) -> None:
    if state in (S.NO_CONFIRMATION_NEEDED, S.CONFIRMED):
        check_issuable(form(state), SOON)
    else:
        expected = "FORM_EXPIRED" if state is S.EXPIRED else "FORM_STATE"
        assert refusal(lambda: check_issuable(form(state), SOON)) == expected


@pytest.mark.parametrize("state", [S.NO_CONFIRMATION_NEEDED, S.CONFIRMED])
def test_an_issued_form_is_spent(state: FormState) -> None:
    issued = form(state, issued=True)
    assert not issued.open and form(state).open
    assert refusal(lambda: check_issuable(issued, SOON)) == "FORM_ALREADY_ISSUED"
    assert refusal(lambda: withdraw(issued, SELLER, SOON)) == "FORM_ALREADY_ISSUED"
    assert refusal(lambda: confirm(issued, BUYER, SOON)) == "FORM_ALREADY_ISSUED"
    assert refusal(lambda: reject(issued, BUYER, SOON)) == "FORM_ALREADY_ISSUED"


# --- 07: 72 hours unanswered ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(AWAITING))
def test_an_awaiting_form_is_void_at_exactly_72_hours(state: FormState) -> None:
    awaiting = form(state)
    deadline = CREATED + timedelta(hours=72)
    assert awaiting.expire_time == deadline
    just_before = deadline - timedelta(microseconds=1)
    assert awaiting.effective_state(just_before) is state
    assert awaiting.effective_state(deadline) is S.EXPIRED
    assert awaiting.effective_state(deadline + timedelta(days=30)) is S.EXPIRED
    assert confirm(awaiting, AWAITING[state], just_before) is S.CONFIRMED
    assert refusal(lambda: confirm(awaiting, AWAITING[state], deadline)) == "FORM_EXPIRED"
    assert refusal(lambda: reject(awaiting, AWAITING[state], deadline)) == "FORM_EXPIRED"
    assert refusal(lambda: withdraw(awaiting, AWAITING[state].other, deadline)) == "FORM_EXPIRED"
    assert refusal(lambda: check_issuable(awaiting, deadline)) == "FORM_EXPIRED"


@pytest.mark.parametrize("state", [S.NO_CONFIRMATION_NEEDED, S.CONFIRMED, *TERMINAL])
def test_only_awaiting_forms_expire(state: FormState) -> None:
    later = CREATED + timedelta(days=365)
    # Even with a deadline left over from when it awaited an answer, a confirmed or void form stays as it is.
    answered = replace(form(state), expire_time=CREATED + CONFIRMATION_WINDOW)
    assert answered.effective_state(later) is state
    if state in ISSUABLE_STATES:
        check_issuable(answered, later)


# --- what each refusal says ----------------------------------------------------------------------------------


def refused_with(action: Callable[[], object]) -> tuple[str, str]:
    """The reason and the message (what the CLI prints as is) of a refusal."""
    with pytest.raises(FailedPrecondition) as refused:
        action()
    assert refused.value.subject == "red_letter_forms/7"
    assert str(refused.value) == refused.value.message
    return refused.value.reason, refused.value.message


def test_a_refusal_names_the_form_its_state_and_the_action_refused() -> None:
    refused_05 = form(S.REFUSED_BY_BUYER)
    # The state is given as the national two-digit code, with its name.
    assert refused_with(lambda: confirm(refused_05, BUYER, SOON)) == (
        "FORM_STATE",
        "red-letter form 7 is in state 05 (REFUSED_BY_BUYER) and cannot be confirmed",
    )
    assert refused_with(lambda: reject(form(S.CONFIRMED), BUYER, SOON)) == (
        "FORM_STATE",
        "red-letter form 7 is in state 04 (CONFIRMED) and cannot be refused",
    )
    assert refused_with(lambda: withdraw(form(S.WITHDRAWN), SELLER, SOON)) == (
        "FORM_STATE",
        "red-letter form 7 is in state 08 (WITHDRAWN) and cannot be withdrawn",
    )
    assert refused_with(lambda: check_issuable(form(S.AWAITING_SELLER), SOON)) == (
        "FORM_STATE",
        "red-letter form 7 is in state 03 (AWAITING_SELLER) and cannot be issued from",
    )


@pytest.mark.parametrize(
    ("action", "verb"),
    [
        (lambda f: check_issuable(f, SOON), "issued from"),
        (lambda f: withdraw(f, SELLER, SOON), "withdrawn"),
        (lambda f: confirm(f, BUYER, SOON), "confirmed"),
        (lambda f: reject(f, BUYER, SOON), "refused"),
    ],
)
def test_a_spent_form_says_its_red_invoice_is_issued(action: Callable[[RedLetterForm], object], verb: str) -> None:
    assert refused_with(lambda: action(form(S.CONFIRMED, issued=True))) == (
        "FORM_ALREADY_ISSUED",
        f"the red invoice of form 7 is already issued; the form can no longer be {verb}",
    )


@pytest.mark.parametrize("state", list(AWAITING))
def test_an_expired_form_says_to_enter_a_new_one(state: FormState) -> None:
    deadline = CREATED + CONFIRMATION_WINDOW
    message = "red-letter form 7 went unanswered for 72 hours and is void (07); enter a new one"
    for action in (confirm, reject):
        assert refused_with(partial(action, form(state), AWAITING[state], deadline)) == ("FORM_EXPIRED", message)
    assert refused_with(lambda: withdraw(form(state), AWAITING[state].other, deadline)) == ("FORM_EXPIRED", message)
    assert refused_with(lambda: check_issuable(form(state), deadline)) == ("FORM_EXPIRED", message)


def test_the_wrong_party_is_told_who_may_act() -> None:
    assert refused_with(lambda: confirm(form(S.AWAITING_BUYER), SELLER, SOON)) == (
        "NOT_AWAITED_PARTY",
        "red-letter form 7 awaits the buyer, not the seller",
    )
    assert refused_with(lambda: reject(form(S.AWAITING_SELLER), BUYER, SOON)) == (
        "NOT_AWAITED_PARTY",
        "red-letter form 7 awaits the seller, not the buyer",
    )
    assert refused_with(lambda: withdraw(form(S.AWAITING_BUYER, SELLER), BUYER, SOON)) == (
        "NOT_INITIATOR",
        "only the form's initiator (the seller) may withdraw it",
    )
    assert refused_with(lambda: withdraw(form(S.CONFIRMED, BUYER), SELLER, SOON)) == (
        "NOT_INITIATOR",
        "only the form's initiator (the buyer) may withdraw it",
    )
