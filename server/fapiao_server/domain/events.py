"""The history of an invoice: one event per transition, with actor, time, reason and before/after state."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from .invoice import InvoiceReference, InvoiceState
from .red_letter import FormState

# The actor of changes the register makes by itself (the 72-hour expiry).
SYSTEM_ACTOR = "system"


class EventType(enum.IntEnum):
    """Values equal fapiao.v1.InvoiceEventType."""

    ISSUED = 1
    VOIDED = 2
    CERTIFIED = 3
    RED_LETTER_FORM_CREATED = 4
    RED_LETTER_FORM_CONFIRMED = 5
    RED_LETTER_FORM_REFUSED = 6
    RED_LETTER_FORM_WITHDRAWN = 7
    RED_LETTER_FORM_EXPIRED = 8
    REVERSED = 9


@dataclass(frozen=True, slots=True, order=True)
class EventPosition:
    """Where an event sits in the register's history: ordered by the writing transaction, then by id (the field
    order). Only positions below the oldest running transaction are ever handed out, so later events sort after
    them."""

    xid: int
    id: int


# Before every event: where a history read from the beginning starts.
START = EventPosition(0, 0)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be written (the database assigns its id, position and time)."""

    event_type: EventType
    invoice_id: int
    seller_tax_id: str
    buyer_tax_id: str
    # The invoice's 4-digit region (a tax officer's watch follows a region).
    region_code: str
    actor: str
    state_after: InvoiceState
    state_before: InvoiceState | None = None
    reason: str = ""
    form_id: int | None = None
    form_state_before: FormState | None = None
    form_state_after: FormState | None = None
    reversed_amount_fen: int = 0
    red_invoice_id: int | None = None


@dataclass(frozen=True, slots=True)
class InvoiceEvent:
    position: EventPosition
    event_type: EventType
    invoice: InvoiceReference
    seller_tax_id: str
    buyer_tax_id: str
    region_code: str
    actor: str
    event_time: datetime
    state_after: InvoiceState
    state_before: InvoiceState | None = None
    reason: str = ""
    form_id: int | None = None
    form_state_before: FormState | None = None
    form_state_after: FormState | None = None
    reversed_amount_fen: int = 0
    red_invoice: InvoiceReference | None = None
    # Where a watch resuming after this event starts. Its own position once nothing can still commit before it;
    # until then (an event read from the history while an older transaction runs) the last such position, so a
    # resume may see the event again but never misses the late one.
    resume_after: EventPosition | None = None

    @property
    def id(self) -> int:
        return self.position.id

    @property
    def cursor(self) -> EventPosition:
        return self.resume_after or self.position
