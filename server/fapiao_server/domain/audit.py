"""The audit log's events and the hash chain that makes changing, inserting or deleting a row detectable.

Each row's hash is ``SHA-256(prev_hash || canonical(event))``; the first row's ``prev_hash`` is 32 zero bytes.
``canonical`` is a length-prefixed byte string (see ``AuditEvent.canonical``) so that an auditor can recompute
every hash with nothing but the stored columns and a SHA-256 (docs/audit.md spells the format out)."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

# The chain's start: the prev_hash of the first row.
GENESIS = bytes(32)
# Names the encoding inside every hashed byte string, so a future format cannot be confused with this one.
FORMAT = b"fapiao.audit.v1"
# Audited text comes partly from requests (an invoice number, a reason): hostile input must not make a row huge.
MAX_TEXT = 256
MAX_DETAILS = 16
_REPLACEMENT = "\ufffd"


class AuditOutcome(enum.Enum):
    OK = "OK"
    DENIED = "DENIED"  # authenticated, but not allowed to make this call
    UNAUTHENTICATED = "UNAUTHENTICATED"  # no valid credentials
    FAILED = "FAILED"  # allowed, but refused or failed (bad input, a lifecycle rule, the database away)


def invoice_subject(invoice_id: int | str) -> str:
    """How the log names the invoice a change acted on."""
    return f"invoices/{invoice_id}"


def form_subject(form_id: int | str) -> str:
    """How the log names the red-letter form a change acted on."""
    return f"red-letter-forms/{form_id}"


def tax_period_subject(tax_id: str, year: int, month: int) -> str:
    """How the log names the tax period a report acted on."""
    return f"tax-periods/{tax_id}/{year:04d}-{month:02d}"


def principal_subject(principal_id: str) -> str:
    """How the log names the principal an administration or login acted on."""
    return f"principals/{principal_id}"


def api_key_subject(key_id: str) -> str:
    """How the log names the API key a change acted on."""
    return f"api-keys/{key_id}"


def audit_text(value: str, limit: int = MAX_TEXT) -> str:
    """``value`` as a row can hold it: PostgreSQL text has no NUL, and at most ``limit`` characters are kept."""
    return value.replace("\x00", _REPLACEMENT)[:limit]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something a principal did or tried to do. ``action`` is the full RPC method name (e.g.
    ``/fapiao.v1.InvoiceService/VoidInvoice``) or a name such as ``auth.login``; ``subject`` what it acted on
    (an invoice id, a form id, a username)."""

    time: datetime
    actor: str
    action: str
    outcome: AuditOutcome
    actor_role: str = ""
    subject: str = ""
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("an audit event's time must be timezone-aware")
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    def cleaned(self) -> AuditEvent:
        """This event as a row can hold it (see ``audit_text``; at most MAX_DETAILS details). The log stores
        cleaned events, so one odd event can never make a batch fail, and what is hashed is what is stored."""
        details = sorted((audit_text(k, 64), audit_text(v)) for k, v in self.details.items())[:MAX_DETAILS]
        return AuditEvent(
            time=self.time,
            actor=audit_text(self.actor),
            action=audit_text(self.action),
            outcome=self.outcome,
            actor_role=audit_text(self.actor_role, 32),
            subject=audit_text(self.subject),
            details=dict(details),
        )

    def canonical(self) -> bytes:
        """The bytes the chain hashes: FORMAT, then time (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``), actor,
        actor_role, action, outcome, subject, the number of details, and each detail's key and value in key
        order (by UTF-8 bytes). Every item is UTF-8, preceded by its length as 4 bytes big-endian."""
        parts = [
            FORMAT,
            # isoformat: the same text as strftime's, at half the cost; the time is UTC, so "+00:00" -> "Z".
            self.time.isoformat(timespec="microseconds").replace("+00:00", "Z").encode(),
            self.actor.encode(),
            self.actor_role.encode(),
            self.action.encode(),
            self.outcome.value.encode(),
            self.subject.encode(),
            str(len(self.details)).encode(),
        ]
        for key, value in sorted((k.encode(), v.encode()) for k, v in self.details.items()):
            parts += [key, value]
        return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def chain_hash(prev_hash: bytes, event: AuditEvent) -> bytes:
    """The hash of a row holding ``event`` that follows a row whose hash is ``prev_hash``."""
    return hashlib.sha256(prev_hash + event.canonical()).digest()


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """A stored row: its id (the chain's order), its event, and the hashes it was stored with."""

    id: int
    event: AuditEvent
    prev_hash: bytes
    hash: bytes


def chain(events: Iterable[AuditEvent], head: bytes) -> list[tuple[AuditEvent, bytes, bytes]]:
    """``(event, prev_hash, hash)`` for events appended, in order, after a chain whose last hash is ``head``."""
    linked = []
    for event in events:
        digest = chain_hash(head, event)
        linked.append((event, head, digest))
        head = digest
    return linked


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What walking the chain found. ``first_broken_id`` is the first row whose link does not hold (its
    prev_hash is not the previous row's hash, or its hash is not the hash of its content): the row was altered,
    inserted there, or the row before it was deleted. ``head`` is the last good hash, to anchor elsewhere."""

    checked: int = 0
    first_broken_id: int | None = None
    last_id: int | None = None
    head: bytes = GENESIS
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


class ChainVerifier:
    """Walks rows in id order, a chunk at a time (``feed``), remembering only the last hash: a chain of any
    length is checked in constant memory. Stops noting anything after the first broken row."""

    def __init__(self) -> None:
        self._result = ChainCheck()

    @property
    def result(self) -> ChainCheck:
        return self._result

    @property
    def broken(self) -> bool:
        return not self._result.intact

    def feed(self, rows: Iterable[ChainedEvent]) -> bool:
        """Check the next rows; False once a broken row is found (the caller may stop reading)."""
        checked, head, last_id = self._result.checked, self._result.head, self._result.last_id
        for row in rows:
            problem = ""
            if row.prev_hash != head:
                problem = "its prev_hash is not the hash of the row before it"
            elif chain_hash(head, row.event) != row.hash:
                problem = "its hash is not the hash of its content"
            if problem:
                self._result = ChainCheck(checked + 1, row.id, last_id, head, problem)
                return False
            checked, head, last_id = checked + 1, row.hash, row.id
        self._result = ChainCheck(checked, None, last_id, head)
        return True


def verify_chain(rows: Iterable[ChainedEvent]) -> ChainCheck:
    """Check a whole chain given in id order (for rows already in memory; storage feeds a ChainVerifier)."""
    verifier = ChainVerifier()
    verifier.feed(rows)
    return verifier.result
