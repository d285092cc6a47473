"""Reporting (数据统计): what a summary of invoices asks for, and its totals. Pure: no I/O.

A summary counts the invoices of one seller, one buyer or one region over a range of Asia/Shanghai issue dates,
broken down by the groupings asked for. Sums are exact integer fen; red-letter invoices count with their negative
amounts, so a seller's totals are what stands after reversals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum

from .errors import Violations
from .invoice import InvoiceState
from .invoice_types import InvoiceType

# A year of days (a leap year's included): reports run by month, quarter or year, and a bound keeps one report
# from reading a region's whole history.
MAX_SPAN_DAYS = 366


class Grouping(IntEnum):
    """fapiao.v1.InvoiceGrouping."""

    TYPE = 1
    STATE = 2
    MONTH = 3
    REGION = 4


@dataclass(frozen=True, slots=True)
class SummaryQuery:
    """Whose invoices (exactly one of seller, buyer, region), when, which, and how to break them down."""

    start_date: date
    end_date: date
    seller_tax_id: str | None = None
    buyer_tax_id: str | None = None
    region: str | None = None
    state: InvoiceState | None = None
    invoice_type: InvoiceType | None = None
    group_by: tuple[Grouping, ...] = ()

    @property
    def tax_id(self) -> str | None:
        return self.seller_tax_id or self.buyer_tax_id


@dataclass(frozen=True, slots=True)
class Totals:
    """The invoices of one group; a grouping field the query did not ask for is None."""

    invoice_count: int
    amount_fen: int
    tax_fen: int
    total_fen: int
    invoice_type: InvoiceType | None = None
    state: InvoiceState | None = None
    month: str | None = None  # YYYY-MM
    region: str | None = None


def check_summary(query: SummaryQuery) -> None:
    """InvalidArgument naming every rule the query breaks (formats were checked where it was read)."""
    problems = Violations()
    named = [value for value in (query.seller_tax_id, query.buyer_tax_id, query.region) if value is not None]
    if len(named) != 1:
        problems.add("seller_tax_id", "give exactly one of seller_tax_id, buyer_tax_id and region_code")
    if query.end_date < query.start_date:
        problems.add("end_date", "must not be before the start date")
    elif (query.end_date - query.start_date).days >= MAX_SPAN_DAYS:
        problems.add("end_date", f"at most {MAX_SPAN_DAYS} days from the start date, both included")
    if len(set(query.group_by)) != len(query.group_by):
        problems.add("group_by", "each grouping at most once")
    problems.raise_if_any("INVALID_SUMMARY")


def grand_total(groups: Sequence[Totals]) -> Totals:
    """All the groups' invoices together."""
    return Totals(
        invoice_count=sum(group.invoice_count for group in groups),
        amount_fen=sum(group.amount_fen for group in groups),
        tax_fen=sum(group.tax_fen for group in groups),
        total_fen=sum(group.total_fen for group in groups),
    )
