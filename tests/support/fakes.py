"""In-memory fakes of the services' ports, for unit tests of the use cases without PostgreSQL or Redis.

Each fake keeps the promise its port's docstring makes (services/ports.py) and nothing more, so a use case
tested against it behaves as it does against the real adapters, which the integration tests check. ``fail_with``
makes the next calls raise, as a store that is down does."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from fapiao_server.domain.access import Scope
from fapiao_server.domain.errors import DomainError
from fapiao_server.domain.invoice import Invoice, InvoiceKey
from fapiao_server.domain.reporting import SummaryQuery, Totals
from fapiao_server.domain.verification import VerificationRecord
from fapiao_server.services.ports import RecordFilter


class InMemoryInvoices:
    """InvoiceLookup over a dict; counts the lookups it answered."""

    def __init__(self, invoices: Iterable[Invoice] = ()) -> None:
        self._by_key = {invoice.key: invoice for invoice in invoices}
        self.lookups = 0
        self.fail_with: DomainError | None = None

    def add(self, invoice: Invoice) -> None:
        self._by_key[invoice.key] = invoice

    async def get(self, key: InvoiceKey) -> Invoice | None:
        return (await self.get_many([key])).get(key)

    async def get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        if self.fail_with is not None:
            raise self.fail_with
        self.lookups += 1
        return {key: self._by_key[key] for key in keys if key in self._by_key}


class InMemoryRecords:
    """RecordAppender and RecordReader over a list: ids from a counter, the history newest first by
    (verify_time, id), as the register's keyset pages read it."""

    def __init__(self) -> None:
        self.stored: list[VerificationRecord] = []
        self._ids = itertools.count(1)
        self.fail_with: DomainError | None = None

    async def reserve_ids(self, count: int) -> list[int]:
        if self.fail_with is not None:
            raise self.fail_with
        return [next(self._ids) for _ in range(count)]

    async def append(self, records: Sequence[VerificationRecord]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.stored.extend(records)

    async def list(
        self, caller: str, where: RecordFilter, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[VerificationRecord]:
        def wanted(record: VerificationRecord) -> bool:
            return (
                record.caller == caller
                and where.invoice_code in (None, record.key.invoice_code)
                and where.invoice_number in (None, record.key.invoice_number)
                and where.outcome in (None, record.outcome)
                and (where.start_time is None or record.verify_time >= where.start_time)
                and (where.end_time is None or record.verify_time < where.end_time)
                and (after is None or (record.verify_time, record.id) < after)
            )

        newest_first = sorted(self.stored, key=lambda record: (record.verify_time, record.id), reverse=True)
        return [record for record in newest_first if wanted(record)][:limit]


class InMemoryAttempts:
    """AttemptCounter over a Counter; a counter lapses when the clock passes the ``lapse_at`` it was counted with."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lapse_at: dict[str, datetime] = {}

    async def count(self, counters: Sequence[str], *, lapse_at: datetime) -> list[int]:
        found = []
        for name in counters:
            self.counts[name] += 1
            self.lapse_at[name] = lapse_at
            found.append(self.counts[name])
        return found


class CannedReports:
    """ReportStore that answers every summary with the same groups and remembers what it was asked, and in which
    scope, so a test sees what the use case let through to the store."""

    def __init__(self, groups: Sequence[Totals] = ()) -> None:
        self.groups = list(groups)
        self.asked: list[tuple[SummaryQuery, Scope]] = []

    async def summarize(self, where: SummaryQuery, scope: Scope) -> list[Totals]:
        self.asked.append((where, scope))
        return list(self.groups)
