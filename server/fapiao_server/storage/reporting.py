"""Summaries of invoices in PostgreSQL (reporting.sql), scoped to what the caller may see."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ..domain.access import Scope
from ..domain.calendar import business_days_span
from ..domain.invoice import InvoiceState
from ..domain.invoice_types import InvoiceType
from ..domain.reporting import Grouping, SummaryQuery, Totals
from .database import storage_errors
from .lifecycle import scoped
from .queries import query


def _totals(row: dict[str, Any]) -> Totals:
    return Totals(
        invoice_count=int(row["invoice_count"]),
        amount_fen=int(row["amount_fen"]),
        tax_fen=int(row["tax_fen"]),
        total_fen=int(row["total_fen"]),
        invoice_type=None if row["invoice_type"] is None else InvoiceType(row["invoice_type"]),
        state=None if row["state"] is None else InvoiceState(row["state"]),
        month=row["month"],
        region=row["region_code"],
    )


def summary_statement(where: SummaryQuery, scope: Scope) -> tuple[LiteralString, dict[str, Any]]:
    """The statement (reporting.sql) and parameters that summarize ``where`` among what ``scope`` may see."""
    span = business_days_span(where.start_date, where.end_date)
    params = scoped(
        scope,
        seller=where.seller_tax_id,
        buyer=where.buyer_tax_id,
        region=where.region,
        start_date=where.start_date,
        end_date=where.end_date,
        start_time=span[0],
        end_time=span[1],
        state=None if where.state is None else int(where.state),
        invoice_type=None if where.invoice_type is None else int(where.invoice_type),
        by_type=Grouping.TYPE in where.group_by,
        by_state=Grouping.STATE in where.group_by,
        by_month=Grouping.MONTH in where.group_by,
        by_region=Grouping.REGION in where.group_by,
    )
    if where.seller_tax_id is not None:
        return query("summarize_seller_invoices"), params
    if where.buyer_tax_id is not None:
        return query("summarize_buyer_invoices"), params
    return query("summarize_region_invoices"), params


class PostgresReports:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def summarize(self, where: SummaryQuery, scope: Scope) -> list[Totals]:
        """The groups of ``where`` that have invoices, in no particular order."""
        statement, params = summary_statement(where, scope)
        with storage_errors():
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(statement, params)
                return [_totals(row) for row in await cursor.fetchall()]
