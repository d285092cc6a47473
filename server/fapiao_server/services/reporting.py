"""Reporting (数据统计): summaries of invoices for the taxpayers they belong to and the tax officers of their
regions. What the caller may see is narrowed twice: here (whose invoices it may ask about at all) and in the
query (only invoices in its scope are counted)."""

from __future__ import annotations

from ..domain.access import Principal, Role, act_for, cover_region
from ..domain.reporting import Grouping, SummaryQuery, Totals, check_summary, grand_total
from .ports import ReportStore


class ReportingService:
    def __init__(self, store: ReportStore) -> None:
        self._store = store

    async def summarize(self, where: SummaryQuery, actor: Principal) -> tuple[list[Totals], Totals]:
        """The groups of ``where`` ordered by the groupings asked for, and their grand total.

        A taxpayer asks about its own tax ids; a tax officer about its regions, or about any tax id, of which it
        is told only what happened in its regions (as its listings show it). Anything else is PERMISSION_DENIED,
        not an empty report, so a zero always means none."""
        check_summary(where)
        if where.region is not None:
            cover_region(actor, where.region)
        elif actor.role is not Role.TAX_OFFICER:
            act_for(actor, where.tax_id or "", "taxpayer")
        groups = await self._store.summarize(where, actor.scope)
        groups.sort(key=lambda group: tuple(_sort_key(group, grouping) for grouping in where.group_by))
        return groups, grand_total(groups)


def _sort_key(group: Totals, grouping: Grouping) -> int | str:
    if grouping is Grouping.TYPE:
        return int(group.invoice_type or 0)
    if grouping is Grouping.STATE:
        return int(group.state or 0)
    if grouping is Grouping.MONTH:
        return group.month or ""
    return group.region or ""
