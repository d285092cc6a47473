"""The ports the use cases need; storage and cache adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..domain.invoice import Invoice, InvoiceKey
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


class RecordReader(Protocol):
    async def list(
        self, caller: str, where: RecordFilter, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[VerificationRecord]:
        """Up to ``limit`` of the caller's records, newest first, strictly after the keyset cursor ``after``."""
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
