"""The ports the use cases need; storage and cache adapters implement them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ..domain.access import PrincipalAccount, Role, Scope
from ..domain.audit import AuditEvent, AuditOutcome, ChainCheck, ChainedEvent
from ..domain.events import EventPosition, InvoiceEvent, NewEvent
from ..domain.invoice import Invoice, InvoiceKey, InvoiceState
from ..domain.invoice_types import InvoiceType
from ..domain.issuing import InvoiceDraft
from ..domain.lifecycle import InvoiceFacts
from ..domain.red_letter import FormState, RedLetterForm
from ..domain.reporting import SummaryQuery, Totals
from ..domain.signing import PublishedKey
from ..domain.verification import VerificationOutcome, VerificationRecord


class InvoiceLookup(Protocol):
    async def get(self, key: InvoiceKey) -> Invoice | None: ...

    async def get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        """The invoices that exist among ``keys``."""
        ...


class InvoiceSource(InvoiceLookup, Protocol):
    """Where invoices are read from when not cached (the register's database)."""


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which of a caller's verification records to list; None means "any"."""

    invoice_code: str | None = None
    invoice_number: str | None = None
    outcome: VerificationOutcome | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


class RecordAppender(Protocol):
    async def reserve_ids(self, count: int) -> list[int]:
        """Ids for records about to be appended."""
        ...

    async def append(self, records: Sequence[VerificationRecord]) -> None:
        """Durably store the records (with ids from ``reserve_ids``); return once committed."""
        ...


class SigningKeyDirectory(Protocol):
    async def list(self) -> list[PublishedKey]:
        """Every key the register has signed with, newest first."""
        ...


class RecordReader(Protocol):
    async def list(
        self, caller: str, where: RecordFilter, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[VerificationRecord]:
        """Up to ``limit`` of the caller's records, newest first, strictly after the keyset cursor ``after``."""
        ...


class AttemptCounter(Protocol):
    async def count(self, counters: Sequence[str], *, lapse_at: datetime) -> list[int]:
        """One more attempt on each named counter, in order (a name given twice counts twice); returns each count
        including these attempts. Counters lapse (start again from 0) at ``lapse_at``. Never fails: a counter
        that cannot reach the fleet's store counts in memory."""
        ...


@dataclass(frozen=True, slots=True)
class InvoiceChanges:
    """An announcement that invoices changed, for whoever keeps copies of them.

    ``keys`` lists the invoices, or is None when a statement changed too many to list; ``bulk_id`` then tells
    such announcements apart so a fleet acts on each once. ``missed`` marks the start of listening after a
    gap: announcements sent meanwhile are lost, so this process's own memory may be stale.
    """

    keys: tuple[InvoiceKey, ...] | None
    bulk_id: str = ""
    missed: bool = False


# --- the invoice lifecycle ---------------------------------------------------------------------------------

# An invoice named by register id or by key.
InvoiceRef = int | InvoiceKey


@dataclass(frozen=True, slots=True)
class RequestClaim:
    """An AIP-155 request id claimed for a change: by whom, and a digest of the request it was first used for."""

    caller: str
    request_id: str  # canonical UUID text
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class UsedRequest:
    """A request id used before: the digest of its first request and what that produced."""

    fingerprint: bytes
    result_id: int | None


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """Which invoices to list; None means "any". A seller, a buyer or a region is always given."""

    seller_tax_id: str | None = None
    buyer_tax_id: str | None = None
    region: str | None = None
    state: InvoiceState | None = None
    invoice_type: InvoiceType | None = None
    start_date: date | None = None
    end_date: date | None = None


@dataclass(frozen=True, slots=True)
class FormFilter:
    seller_tax_id: str | None = None
    buyer_tax_id: str | None = None
    invoice_id: int | None = None
    state: FormState | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a watcher follows: one invoice's, a tax id's as seller or buyer, or a region's. Exactly one
    is given."""

    invoice_id: int | None = None
    tax_id: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.invoice_id, self.tax_id, self.region)) != 1:
            raise ValueError("an event filter names exactly one invoice, tax id or region")

    @property
    def key(self) -> tuple[str, int | str]:
        """What the filter follows, as a key an event's ``EventFilter.keys_of`` is matched against."""
        if self.invoice_id is not None:
            return ("invoice", self.invoice_id)
        if self.tax_id is not None:
            return ("tax_id", self.tax_id)
        assert self.region is not None
        return ("region", self.region)

    @staticmethod
    def keys_of(event: InvoiceEvent) -> set[tuple[str, int | str]]:
        """The keys of every filter that ``event`` matches."""
        keys: set[tuple[str, int | str]] = {
            ("invoice", event.invoice.id),
            ("tax_id", event.seller_tax_id),
            ("region", event.region_code),
        }
        if event.buyer_tax_id:
            keys.add(("tax_id", event.buyer_tax_id))
        return keys

    def matches(self, event: InvoiceEvent) -> bool:
        return self.key in self.keys_of(event)


@dataclass(frozen=True, slots=True)
class PendingIssue:
    draft: InvoiceDraft
    actor: str
    claim: RequestClaim | None = None
    # The call's audit event, written with the invoice (subject and time filled in) unless the request replays.
    audit: AuditEvent | None = None


@dataclass(frozen=True, slots=True)
class Replayed:
    """The request id was used before: this is what the first call produced (or None if it was another kind of
    request), with the first request's digest so the caller can tell a retry from a reuse."""

    used: UsedRequest


class InvoiceIssuer(Protocol):
    async def issue(self, item: PendingIssue) -> Invoice | Replayed:
        """Issue one invoice (batched with whatever else is being issued); a used request id replays."""
        ...


class LifecycleTransaction(Protocol):
    """One change, all or nothing. Every change locks its invoice first, so changes to one invoice queue up."""

    async def claim(self, claims: Sequence[RequestClaim]) -> dict[tuple[str, str], UsedRequest]:
        """Claim request ids; returns those used before (by committed changes), keyed by (caller, request id)."""
        ...

    async def finish(self, results: Sequence[tuple[RequestClaim, int]]) -> None:
        """Record what each claimed request produced."""
        ...

    async def lock_invoice(self, ref: InvoiceRef, scope: Scope) -> Invoice | None:
        """Lock the invoice for this transaction, if it exists and is in ``scope``."""
        ...

    async def facts(self, invoice: Invoice) -> InvoiceFacts: ...

    async def set_state(
        self, invoice_id: int, state: InvoiceState, now: datetime, *, reversed_amount_fen: int | None = None
    ) -> None: ...

    async def certify(self, invoice_id: int, now: datetime) -> None: ...

    async def lock_form(self, form_id: int, scope: Scope) -> RedLetterForm | None:
        """The form, with its invoice locked."""
        ...

    async def insert_form(self, form: RedLetterForm) -> RedLetterForm:
        """Store a new form (its id is ignored); returns it with the id it got."""
        ...

    async def set_form_state(self, form_id: int, state: FormState, *, red_invoice_id: int | None = None) -> None: ...

    async def insert_invoices(self, drafts: Sequence[InvoiceDraft], now: datetime) -> list[Invoice]:
        """Allocate identifiers for the drafts and store them; numbers come from the same transaction, so a
        rollback returns them and none is ever skipped or used twice."""
        ...

    async def append(self, events: Sequence[NewEvent]) -> None: ...

    async def audit(self, events: Sequence[AuditEvent]) -> None:
        """Write the change's audit events in this transaction: they commit, or vanish, with the change."""
        ...


class LifecycleStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[LifecycleTransaction]: ...

    async def invoices(self, ids: Sequence[int]) -> dict[int, Invoice]: ...

    async def invoice(self, ref: InvoiceRef, scope: Scope) -> Invoice | None:
        """The invoice, if it exists and is in ``scope`` (tenant scoping happens in the query)."""
        ...

    async def facts(self, invoice: Invoice) -> InvoiceFacts: ...

    async def list_invoices(
        self, where: InvoiceFilter, scope: Scope, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[Invoice]: ...

    async def forms(self, ids: Sequence[int], scope: Scope = ...) -> dict[int, RedLetterForm]:
        """The forms among ``ids`` in ``scope`` (all of them by default)."""
        ...

    async def list_forms(
        self, where: FormFilter, scope: Scope, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[RedLetterForm]: ...

    async def expired_forms(self, now: datetime, *, limit: int) -> list[int]: ...

    async def report_period(
        self, tax_id: str, period: date, actor: str, *, audit: Sequence[AuditEvent] = ()
    ) -> datetime:
        """Record the report (the first one's time stands, and is returned) with ``audit`` in one transaction."""
        ...

    async def invoice_events(self, invoice_id: int, *, after: EventPosition, limit: int) -> list[InvoiceEvent]:
        """An invoice's committed events in the register's order."""
        ...

    async def stable_events(self, where: EventFilter | None, *, after: EventPosition, limit: int) -> list[InvoiceEvent]:
        """Events after ``after`` that no later commit can precede (see EventPosition)."""
        ...

    async def stable_head(self) -> EventPosition: ...

    async def forget_requests(self, before: datetime) -> int: ...


# --- principals and credentials --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginSecret:
    principal_id: str
    password_hash: str
    totp_secret: str
    totp_last_step: int


@dataclass(frozen=True, slots=True)
class SessionState:
    principal_id: str
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeySecret:
    principal_id: str
    secret_hash: bytes
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: str
    principal_id: str
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ReportStore(Protocol):
    async def summarize(self, where: SummaryQuery, scope: Scope) -> list[Totals]:
        """The groups of ``where`` among the invoices ``scope`` may see, in any order."""
        ...


class AccessStore(Protocol):
    """Each change writes the ``audit`` events it is given in its own transaction, and only when it commits a
    change (not when what it would change does not exist)."""

    async def accounts(self, ids: Sequence[str]) -> dict[str, PrincipalAccount]: ...

    async def principal_for_certificate(self, name: str) -> str | None: ...

    async def principal_ids(self, *, role: Role | None, after: str, limit: int) -> list[str]: ...

    async def create_principal(self, account: PrincipalAccount, *, audit: Sequence[AuditEvent] = ()) -> None:
        """AlreadyExists when the id (or certificate name) is taken."""
        ...

    async def update_principal(self, account: PrincipalAccount, *, audit: Sequence[AuditEvent] = ()) -> bool:
        """False when there is no such principal."""
        ...

    async def login(self, username: str) -> LoginSecret | None:
        """None when there is no such login, or when its stored TOTP secret does not open (fails closed)."""
        ...

    async def accept_totp_step(self, principal_id: str, step: int) -> bool:
        """Record the step as used; False if it (or a later one) was used already."""
        ...

    async def set_login(
        self,
        principal_id: str,
        username: str,
        password_hash: str,
        totp_secret: str,
        *,
        audit: Sequence[AuditEvent] = (),
    ) -> None:
        """Give the principal this login and end its sessions; AlreadyExists when the username is taken."""
        ...

    async def create_session(
        self,
        session_id: uuid.UUID,
        principal_id: str,
        refresh_hash: bytes,
        expires_at: datetime,
        *,
        audit: Sequence[AuditEvent] = (),
    ) -> None: ...

    async def session_state(self, session_id: uuid.UUID) -> SessionState | None: ...

    async def rotate_refresh_token(
        self, session_id: uuid.UUID, old_hash: bytes, new_hash: bytes, *, audit: Sequence[AuditEvent] = ()
    ) -> SessionState | None:
        """The session, if ``old_hash`` was its live refresh token (now replaced by ``new_hash``)."""
        ...

    async def revoke_session(self, session_id: uuid.UUID, *, audit: Sequence[AuditEvent] = ()) -> None: ...

    async def revoke_sessions_of(self, principal_id: str, *, audit: Sequence[AuditEvent] = ()) -> int: ...

    async def create_api_key(
        self,
        key_id: str,
        principal_id: str,
        secret_hash: bytes,
        description: str,
        expires_at: datetime | None,
        *,
        audit: Sequence[AuditEvent] = (),
    ) -> ApiKeyInfo: ...

    async def api_key_secret(self, key_id: str) -> ApiKeySecret | None: ...

    async def api_keys_of(self, principal_id: str) -> Sequence[ApiKeyInfo]: ...

    async def revoke_api_key(self, key_id: str, *, audit: Sequence[AuditEvent] = ()) -> ApiKeyInfo | None: ...


# --- the audit log -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit events to list; empty strings and None mean "any"."""

    actor: str = ""
    action: str = ""
    outcome: AuditOutcome | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


class AuditStore(Protocol):
    async def append(self, events: Sequence[AuditEvent]) -> bool:
        """Link the oldest events changes left in the outbox (a batch at most), then ``events``, to the end of the
        chain, in order, and store them in one transaction; True when the outbox may hold more."""
        ...

    async def list(self, where: AuditFilter, *, limit: int, after_id: int | None) -> list[ChainedEvent]:
        """Up to ``limit`` matching rows, newest first, with ids below ``after_id``."""
        ...

    async def verify(self) -> ChainCheck:
        """Walk the whole chain in id order and report the first broken row, if any."""
        ...
