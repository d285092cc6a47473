"""Lifecycle use cases: issue, void, certify, red-letter forms and red invoices, allowed actions, history.

Each change runs in one transaction that locks the invoice first, checks the domain's rules on what it then
reads, writes the change and its event, and records its request id; a retry with that id gets the first
result. Once committed, the change is pushed out of this worker's caches at once (other workers hear of it from
PostgreSQL), so a verification right after answers with the new state.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TypeVar

from ..domain.access import EVERYTHING, Principal, Scope, act_for, cover_region
from ..domain.audit import form_subject, invoice_subject, tax_period_subject
from ..domain.calendar import business_date, utc_now
from ..domain.errors import Aborted, FieldViolation, InvalidArgument, NotFound, Violations
from ..domain.events import START, SYSTEM_ACTOR, EventPosition, EventType, InvoiceEvent, NewEvent
from ..domain.invoice import Invoice, InvoiceKey, InvoiceReference, InvoiceState
from ..domain.issuing import InvoiceDraft, IssueRequest, check_issue_request
from ..domain.lifecycle import (
    ActionAnswer,
    InvoiceFacts,
    ReversalItem,
    allowed_actions,
    certify_refusal,
    form_refusal,
    period_of,
    red_lines,
    state_after_reversal,
    void_refusal,
)
from ..domain.red_letter import (
    CONFIRMATION_WINDOW,
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
from ..domain.taxpayer import check_tax_id
from .audit import audit_of_change, call_audit, change_audited
from .paging import Page, decode_token, decode_values, encode_token, encode_values, fingerprint, page_limit
from .ports import (
    EventFilter,
    FormFilter,
    InvoiceFilter,
    InvoiceIssuer,
    InvoiceRef,
    LifecycleStore,
    LifecycleTransaction,
    PendingIssue,
    Replayed,
    RequestClaim,
    UsedRequest,
)
from .watching import EventFeed, decode_cursor, watch

# Request ids are remembered this long; a retry later than that is a new request.
REQUEST_ID_RETENTION = timedelta(days=7)
MAX_REASON_LENGTH = 500
Invalidate = Callable[[Sequence[InvoiceKey]], Awaitable[None]]


T = TypeVar("T")
E = TypeVar("E", TradeParty, RedLetterReason)


@dataclass(frozen=True, slots=True)
class _Outcome:
    result_id: int
    changed: tuple[InvoiceKey, ...]


def request_claim(caller: str, request_id: str, method: str, request: object) -> RequestClaim | None:
    """The AIP-155 claim for a change, or None when the caller sent no request id."""
    if not request_id:
        return None
    try:
        canonical = str(uuid.UUID(request_id))
    except ValueError:
        raise InvalidArgument(
            [FieldViolation("request_id", "must be a UUID, e.g. 0f8fad5b-d9cb-469f-a165-70867728950e")],
            reason="INVALID_REQUEST_ID",
        ) from None
    digest = hashlib.sha256(f"{method}\n{request!r}".encode()).digest()
    return RequestClaim(caller, canonical, digest)


def _replay_id(used: UsedRequest, claim: RequestClaim) -> int:
    if used.fingerprint != claim.fingerprint:
        raise InvalidArgument(
            [FieldViolation("request_id", "was already used for a different request; use a new id per change")],
            reason="REQUEST_ID_REUSED",
        )
    if used.result_id is None:
        raise Aborted("the first request with this id has not finished; retry")
    return used.result_id


def _text(problems: Violations, field: str, value: str) -> str:
    if len(value) > MAX_REASON_LENGTH:
        problems.add(field, f"is {len(value)} characters; at most {MAX_REASON_LENGTH}")
    elif any(ord(c) < 32 and c not in "\t\n" for c in value) or "\x7f" in value:
        problems.add(field, "contains control characters")
    return value.strip()


def _enum(problems: Violations, field: str, kind: type[E], value: int) -> E | None:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(m.name for m in kind)
        problems.add(field, "is required" if value == 0 else f"{value} is not one of {names}")
        return None


def _invoice_not_found(ref: InvoiceRef) -> NotFound:
    return NotFound(f"no invoice {ref}", reason="INVOICE_NOT_FOUND")


def _form_not_found(form_id: int) -> NotFound:
    return NotFound(f"no red-letter form {form_id}", reason="FORM_NOT_FOUND")


class LifecycleService:
    def __init__(
        self,
        store: LifecycleStore,
        issuer: InvoiceIssuer,
        *,
        feed: EventFeed | None = None,
        invalidate: Invalidate | None = None,
        clock: Callable[[], datetime] = utc_now,
        watch_heartbeat_seconds: float = 15.0,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._feed = feed or EventFeed(store)
        self._invalidate = invalidate
        self._clock = clock
        self._heartbeat = watch_heartbeat_seconds

    async def _drop_cached(self, keys: Sequence[InvoiceKey]) -> None:
        """Push changed invoices out of this worker's caches (if it has any) before the change is answered."""
        if self._invalidate is not None and keys:
            await self._invalidate(keys)

    @property
    def feed(self) -> EventFeed:
        return self._feed

    # --- reads -----------------------------------------------------------------------------------------------

    async def get(self, ref: InvoiceRef, scope: Scope) -> Invoice:
        """The invoice, if it exists and ``scope`` covers it: another tenant's invoice is "not found", since
        whether it exists is itself private."""
        invoice = await self._store.invoice(ref, scope)
        if invoice is None:
            raise _invoice_not_found(ref)
        return invoice

    async def list_invoices(
        self, where: InvoiceFilter, scope: Scope, *, page_size: int, page_token: str
    ) -> Page[Invoice]:
        if where.seller_tax_id is None and where.buyer_tax_id is None and where.region is None:
            raise InvalidArgument(
                [FieldViolation("seller_tax_id", "give a seller or a buyer tax id, or a region_code")],
                reason="INVALID_INVOICE_FILTER",
            )
        if where.start_date and where.end_date and where.start_date > where.end_date:
            raise InvalidArgument(
                [FieldViolation("end_date", "must not be before start_date")], reason="INVALID_INVOICE_FILTER"
            )
        limit = page_limit(page_size)
        owner = fingerprint("invoices", where)
        found = await self._store.list_invoices(where, scope, limit=limit + 1, after=decode_token(page_token, owner))
        if len(found) <= limit:
            return Page(found, "")
        last = found[limit - 1]
        return Page(found[:limit], encode_token((last.issue_time, last.id), owner))

    async def allowed_actions(self, ref: InvoiceRef, scope: Scope) -> tuple[Invoice, list[ActionAnswer]]:
        invoice = await self.get(ref, scope)
        now = self._clock()
        facts = _unexpired(await self._store.facts(invoice), now)
        return invoice, allowed_actions(invoice, facts, now)

    async def list_events(
        self, ref: InvoiceRef, scope: Scope, *, page_size: int, page_token: str
    ) -> Page[InvoiceEvent]:
        invoice = await self.get(ref, scope)
        limit = page_limit(page_size)
        owner = fingerprint("events", invoice.id)
        after = decode_values(page_token, owner, 2)
        position = EventPosition(*after) if after else START
        events = await self._store.invoice_events(invoice.id, after=position, limit=limit + 1)
        if events:
            # The history shows every committed event at once, but a watch may resume only from a stable one.
            head = await self._store.stable_head()
            events = [e if e.position <= head else replace(e, resume_after=head) for e in events]
        if len(events) <= limit:
            return Page(events, "")
        last = events[limit - 1].position
        return Page(events[:limit], encode_values((last.xid, last.id), owner))

    async def get_form(self, form_id: int, scope: Scope) -> RedLetterForm:
        form = (await self._store.forms([form_id], scope)).get(form_id)
        if form is None:
            raise _form_not_found(form_id)
        return self._as_of_now(form)

    def _as_of_now(self, form: RedLetterForm) -> RedLetterForm:
        """A form past its 72 hours reads as void (07) even before the sweep has written it down."""
        state = form.effective_state(self._clock())
        if state is form.state:
            return form
        return replace(form, state=state)

    async def list_forms(
        self, where: FormFilter, scope: Scope, *, page_size: int, page_token: str
    ) -> Page[RedLetterForm]:
        if where.seller_tax_id is None and where.buyer_tax_id is None and where.invoice_id is None:
            raise InvalidArgument(
                [FieldViolation("seller_tax_id", "give a seller or buyer tax id, or an invoice")],
                reason="INVALID_FORM_FILTER",
            )
        limit = page_limit(page_size)
        owner = fingerprint("forms", where)
        found = await self._store.list_forms(where, scope, limit=limit + 1, after=decode_token(page_token, owner))
        forms = [self._as_of_now(form) for form in found]
        if len(forms) <= limit:
            return Page(forms, "")
        last = forms[limit - 1]
        return Page(forms[:limit], encode_token((last.create_time, last.id), owner))

    async def watch_target(self, target: InvoiceRef | EventFilter, actor: Principal) -> EventFilter:
        """What ``actor`` may watch: an invoice it may read, every invoice of a tax id it acts for (its taxpayer),
        or every invoice of a region it is assigned to (a tax officer; a tax id's invoices span regions, so an
        officer follows regions, not tax ids)."""
        if not isinstance(target, EventFilter):
            return EventFilter(invoice_id=(await self.get(target, actor.scope)).id)
        if target.tax_id is not None:
            act_for(actor, target.tax_id, "taxpayer")
        if target.region is not None:
            cover_region(actor, target.region)
        return target

    def watch(self, where: EventFilter, cursor: str) -> AsyncIterator[tuple[list[InvoiceEvent], EventPosition]]:
        """Events for ``where`` after ``cursor`` ('' for "from now on"); see services.watching."""
        return watch(self._store, self._feed, where, decode_cursor(cursor), heartbeat_seconds=self._heartbeat)

    # --- changes ---------------------------------------------------------------------------------------------

    async def _change(
        self,
        method: str,
        request: object,
        *,
        actor: Principal,
        request_id: str,
        apply: Callable[[LifecycleTransaction, datetime], Awaitable[_Outcome]],
        subject: Callable[[int], str] = invoice_subject,
    ) -> int:
        """Apply a change once per request id, with its audit event (naming ``subject`` of the result) in its own
        transaction; a repeated request id answers with the first result and changes nothing."""
        claim = request_claim(actor.id, request_id, method, request)
        now = self._clock()
        audit = call_audit()
        async with self._store.transaction() as tx:
            if claim is not None:
                used = await tx.claim([claim])
                if used:
                    return _replay_id(used[(claim.caller, claim.request_id)], claim)
            outcome = await apply(tx, now)
            if audit is not None:
                await tx.audit([replace(audit, subject=subject(outcome.result_id), time=now)])
            if claim is not None:
                await tx.finish([(claim, outcome.result_id)])
        if audit is not None:
            change_audited()
        await self._drop_cached(outcome.changed)
        return outcome.result_id

    async def _fresh(self, invoice_id: int) -> Invoice:
        invoice = (await self._store.invoices([invoice_id])).get(invoice_id)
        if invoice is None:  # invoices are never deleted
            raise _invoice_not_found(invoice_id)
        return invoice

    async def issue(self, request: IssueRequest, *, actor: Principal, request_id: str) -> Invoice:
        draft = check_issue_request(request)
        act_for(actor, draft.seller.tax_id, "seller")
        claim = request_claim(actor.id, request_id, "IssueInvoice", request)
        audit = call_audit()
        result = await self._issuer.issue(PendingIssue(draft, actor.id, claim, audit))
        if isinstance(result, Replayed):
            assert claim is not None  # only claimed requests replay
            return await self._fresh(_replay_id(result.used, claim))
        if audit is not None:
            change_audited()
        await self._drop_cached([result.key])
        return result

    async def _locked(self, tx: LifecycleTransaction, ref: InvoiceRef, scope: Scope = EVERYTHING) -> Invoice:
        invoice = await tx.lock_invoice(ref, scope)
        if invoice is None:
            raise _invoice_not_found(ref)
        return invoice

    async def void(self, ref: InvoiceRef, *, reason: str, actor: Principal, request_id: str) -> Invoice:
        problems = Violations()
        reason = _text(problems, "reason", reason)
        problems.raise_if_any("INVALID_VOID")

        async def apply(tx: LifecycleTransaction, now: datetime) -> _Outcome:
            invoice = await self._locked(tx, ref, actor.scope)
            act_for(actor, invoice.seller.tax_id, "seller")
            refusal = void_refusal(invoice, await _change_facts(tx, invoice, now), now)
            if refusal is not None:
                raise refusal
            await tx.set_state(invoice.id, InvoiceState.VOIDED, now)
            await tx.append([_event(EventType.VOIDED, invoice, actor.id, InvoiceState.VOIDED, reason=reason)])
            return _Outcome(invoice.id, (invoice.key,))

        invoice_id = await self._change("VoidInvoice", (ref, reason), actor=actor, request_id=request_id, apply=apply)
        return await self._fresh(invoice_id)

    async def certify(self, ref: InvoiceRef, *, actor: Principal, request_id: str) -> Invoice:
        async def apply(tx: LifecycleTransaction, now: datetime) -> _Outcome:
            invoice = await self._locked(tx, ref, actor.scope)
            act_for(actor, invoice.buyer.tax_id, "buyer")
            refusal = certify_refusal(invoice, await _change_facts(tx, invoice, now))
            if refusal is not None:
                raise refusal
            await tx.certify(invoice.id, now)
            await tx.append([_event(EventType.CERTIFIED, invoice, actor.id, invoice.state)])
            return _Outcome(invoice.id, (invoice.key,))

        invoice_id = await self._change("CertifyInvoice", ref, actor=actor, request_id=request_id, apply=apply)
        return await self._fresh(invoice_id)

    async def report_period(
        self, tax_id: str, year: int, month: int, *, actor: Principal, request_id: str = ""
    ) -> datetime:
        """Record that the seller reported the period. Idempotent by nature (the first report's time stands), so the
        request id is only checked for its form. Every report writes the call's audit event in its own transaction, a
        repeated one too: it is answered as the first was, so it is recorded as the first was."""
        request_claim(actor.id, request_id, "ReportTaxPeriod", (tax_id, year, month))
        problems = Violations()
        try:
            tax_id = check_tax_id(tax_id.strip())
        except ValueError as error:
            problems.add("tax_id", str(error))
        period: date | None = None
        try:
            period = date(year, month, 1)
        except ValueError:
            problems.add("month" if 1 <= year <= 9999 else "year", f"{year:04d}-{month:02d} is not a month")
        now = self._clock()
        today = business_date(now)
        if period is not None and period > period_of(today):
            problems.add("month", f"{period:%Y-%m} has not begun (Asia/Shanghai); a future period cannot be reported")
        problems.raise_if_any("INVALID_TAX_PERIOD")
        assert period is not None
        act_for(actor, tax_id, "taxpayer")
        audit = audit_of_change(now, tax_period_subject(tax_id, period.year, period.month))
        reported = await self._store.report_period(tax_id, period, actor.id, audit=audit)
        change_audited()
        return reported

    async def create_form(
        self,
        ref: InvoiceRef,
        *,
        reason: int,
        initiator: int,
        items: Sequence[ReversalItem],
        remarks: str,
        actor: Principal,
        request_id: str,
    ) -> RedLetterForm:
        problems = Violations()
        why = _enum(problems, "reason", RedLetterReason, reason)
        party = _enum(problems, "initiator", TradeParty, initiator)
        remarks = _text(problems, "remarks", remarks)
        for index, item in enumerate(items):
            if item.line_number <= 0:
                problems.add(f"items[{index}].line_number", "must be a line number (1 or more)")
        problems.raise_if_any("INVALID_RED_LETTER_FORM")
        assert why is not None and party is not None

        async def apply(tx: LifecycleTransaction, now: datetime) -> _Outcome:
            invoice = await self._locked(tx, ref, actor.scope)
            act_for(
                actor, invoice.seller.tax_id if party is TradeParty.SELLER else invoice.buyer.tax_id, party.name.lower()
            )
            facts = await _change_facts(tx, invoice, now)
            refusal = form_refusal(invoice, facts, party)
            if refusal is not None:
                raise refusal
            lines = red_lines(invoice, facts, why, items)
            state = initial_state(
                party, buyer_certified=invoice.certify_time is not None, buyer_registered=bool(invoice.buyer.tax_id)
            )
            amount, tax = sum(line.amount_fen for line in lines), sum(line.tax_fen for line in lines)
            form = await tx.insert_form(
                RedLetterForm(
                    id=0,
                    original_invoice=_reference(invoice),
                    reason=why,
                    state=state,
                    initiator=party,
                    seller_tax_id=invoice.seller.tax_id,
                    buyer_tax_id=invoice.buyer.tax_id,
                    lines=lines,
                    amount_fen=amount,
                    tax_fen=tax,
                    total_fen=amount + tax,
                    create_time=now,
                    update_time=now,
                    expire_time=now + CONFIRMATION_WINDOW if state in _AWAITING else None,
                    remarks=remarks,
                )
            )
            await tx.append(
                [_event(EventType.RED_LETTER_FORM_CREATED, invoice, actor.id, invoice.state, form=form, after=state)]
            )
            return _Outcome(form.id, ())

        form_id = await self._change(
            "CreateRedLetterForm",
            (ref, why, party, tuple(items), remarks),
            actor=actor,
            request_id=request_id,
            apply=apply,
            subject=form_subject,
        )
        return await self.get_form(form_id, EVERYTHING)

    async def _answer_form(
        self,
        method: str,
        form_id: int,
        party_value: int,
        reason: str,
        *,
        actor: Principal,
        request_id: str,
        decide: Callable[[RedLetterForm, TradeParty, datetime], FormState],
        event_type: EventType,
    ) -> RedLetterForm:
        problems = Violations()
        party = _enum(problems, "party", TradeParty, party_value)
        reason = _text(problems, "reason", reason)
        problems.raise_if_any("INVALID_FORM_ANSWER")
        assert party is not None

        async def apply(tx: LifecycleTransaction, now: datetime) -> _Outcome:
            form = await tx.lock_form(form_id, actor.scope)
            if form is None:
                raise _form_not_found(form_id)
            act_for(actor, form.seller_tax_id if party is TradeParty.SELLER else form.buyer_tax_id, party.name.lower())
            state = decide(form, party, now)
            invoice = await self._locked(tx, form.original_invoice.id)
            await tx.set_form_state(form.id, state)
            await tx.append(
                [_event(event_type, invoice, actor.id, invoice.state, form=form, after=state, reason=reason)]
            )
            return _Outcome(form.id, ())

        await self._change(
            method, (form_id, party, reason), actor=actor, request_id=request_id, apply=apply, subject=form_subject
        )
        return await self.get_form(form_id, EVERYTHING)

    async def confirm_form(self, form_id: int, party: int, *, actor: Principal, request_id: str) -> RedLetterForm:
        return await self._answer_form(
            "ConfirmRedLetterForm", form_id, party, "", actor=actor, request_id=request_id,
            decide=confirm, event_type=EventType.RED_LETTER_FORM_CONFIRMED,
        )  # fmt: skip

    async def reject_form(
        self, form_id: int, party: int, reason: str, *, actor: Principal, request_id: str
    ) -> RedLetterForm:
        return await self._answer_form(
            "RejectRedLetterForm", form_id, party, reason, actor=actor, request_id=request_id,
            decide=reject, event_type=EventType.RED_LETTER_FORM_REFUSED,
        )  # fmt: skip

    async def withdraw_form(
        self, form_id: int, party: int, reason: str, *, actor: Principal, request_id: str
    ) -> RedLetterForm:
        return await self._answer_form(
            "WithdrawRedLetterForm", form_id, party, reason, actor=actor, request_id=request_id,
            decide=withdraw, event_type=EventType.RED_LETTER_FORM_WITHDRAWN,
        )  # fmt: skip

    async def issue_red(self, form_id: int, *, actor: Principal, request_id: str) -> tuple[Invoice, Invoice]:
        """Issue the red invoice of a form; returns it and the original as it now stands."""

        async def apply(tx: LifecycleTransaction, now: datetime) -> _Outcome:
            form = await tx.lock_form(form_id, actor.scope)
            if form is None:
                raise _form_not_found(form_id)
            act_for(actor, form.seller_tax_id, "seller")
            check_issuable(form, now)
            original = await self._locked(tx, form.original_invoice.id)
            (red,) = await tx.insert_invoices([_red_draft(original, form)], now)
            state, reversed_total = state_after_reversal(original, -red.amount_fen)
            await tx.set_state(original.id, state, now, reversed_amount_fen=reversed_total)
            await tx.set_form_state(form.id, form.state, red_invoice_id=red.id)
            await tx.append(
                [
                    _event(EventType.ISSUED, red, actor.id, InvoiceState.ISSUED, form=form,
                           new_invoice=True, reason=f"red invoice of form {form.id}"),
                    _event(EventType.REVERSED, original, actor.id, state, form=form,
                           reversed_amount_fen=-red.amount_fen, red_invoice_id=red.id),
                ]
            )  # fmt: skip
            return _Outcome(red.id, (red.key, original.key))

        red_id = await self._change("IssueRedInvoice", form_id, actor=actor, request_id=request_id, apply=apply)
        red = await self._fresh(red_id)
        assert red.original_invoice is not None
        return red, await self._fresh(red.original_invoice.id)

    # --- upkeep ----------------------------------------------------------------------------------------------

    async def expire_forms(self, *, limit: int = 500) -> int:
        """Void (07) the forms left unanswered for 72 hours, each with its event. Safe on every worker at once."""
        now = self._clock()
        expired = 0
        for form_id in await self._store.expired_forms(now, limit=limit):
            async with self._store.transaction() as tx:
                form = await tx.lock_form(form_id, EVERYTHING)
                if form is None or form.state not in _AWAITING or form.effective_state(now) is not FormState.EXPIRED:
                    continue  # another worker got there first
                await _expire(tx, await self._locked(tx, form.original_invoice.id), form)
                expired += 1
        return expired

    async def forget_requests(self) -> int:
        return await self._store.forget_requests(self._clock() - REQUEST_ID_RETENTION)


_AWAITING = frozenset({FormState.AWAITING_BUYER, FormState.AWAITING_SELLER})


async def _expire(tx: LifecycleTransaction, invoice: Invoice, form: RedLetterForm) -> None:
    """Write down that a form went unanswered for 72 hours (07), with its event by the system."""
    await tx.set_form_state(form.id, FormState.EXPIRED)
    await tx.append(
        [
            _event(EventType.RED_LETTER_FORM_EXPIRED, invoice, SYSTEM_ACTOR, invoice.state, form=form,
                   after=FormState.EXPIRED, reason="not confirmed within 72 hours")
        ]
    )  # fmt: skip


def _unexpired(facts: InvoiceFacts, now: datetime) -> InvoiceFacts:
    """The facts without an open form that has gone past its 72 hours: such a form no longer holds the invoice."""
    form = facts.open_form
    if form is not None and form.effective_state(now) is FormState.EXPIRED:
        return replace(facts, open_form=None)
    return facts


async def _change_facts(tx: LifecycleTransaction, invoice: Invoice, now: datetime) -> InvoiceFacts:
    """The facts a change is judged on. A form past its 72 hours is voided (07) here, in the change's own
    transaction, rather than holding the invoice until the sweep comes by."""
    facts = await tx.facts(invoice)
    current = _unexpired(facts, now)
    if current is not facts and facts.open_form is not None:
        await _expire(tx, invoice, facts.open_form)
    return current


def _reference(invoice: Invoice) -> InvoiceReference:
    return InvoiceReference(invoice.id, invoice.invoice_type, invoice.invoice_code, invoice.invoice_number)


def _event(
    event_type: EventType,
    invoice: Invoice,
    actor: str,
    state_after: InvoiceState,
    *,
    form: RedLetterForm | None = None,
    after: FormState | None = None,
    reason: str = "",
    new_invoice: bool = False,
    reversed_amount_fen: int = 0,
    red_invoice_id: int | None = None,
) -> NewEvent:
    return NewEvent(
        event_type=event_type,
        invoice_id=invoice.id,
        seller_tax_id=invoice.seller.tax_id,
        buyer_tax_id=invoice.buyer.tax_id,
        region_code=invoice.region_code,
        actor=actor,
        state_after=state_after,
        state_before=None if new_invoice else invoice.state,
        reason=reason,
        form_id=None if form is None else form.id,
        # A form's states only when the event changes them (issuing from a form leaves it as it is).
        form_state_before=None
        if form is None or after is None or event_type is EventType.RED_LETTER_FORM_CREATED
        else form.state,
        form_state_after=after,
        reversed_amount_fen=reversed_amount_fen,
        red_invoice_id=red_invoice_id,
    )


def _red_draft(original: Invoice, form: RedLetterForm) -> InvoiceDraft:
    """The red invoice of a form: the original's type, parties and region, the form's lines numbered afresh,
    and the remark red invoices carry naming what they reverse."""
    lines = tuple(replace(line, line_number=n) for n, line in enumerate(form.lines, start=1))
    names = (
        f"发票代码:{original.invoice_code} 号码:{original.invoice_number}"
        if original.invoice_code
        else (f"发票号码:{original.invoice_number}")
    )
    return InvoiceDraft(
        invoice_type=original.invoice_type,
        region=original.region_code,
        seller=original.seller,
        buyer=original.buyer,
        lines=lines,
        remarks=f"被红冲蓝字{names} 红字确认单编号:{form.id}",
        issuer_name=original.issuer_name,
        payee_name=original.payee_name,
        reviewer_name=original.reviewer_name,
        vehicle=original.vehicle,
        original_invoice=_reference(original),
        red_letter_form_id=form.id,
        reverses_lines=tuple(line.line_number for line in form.lines),
    )
