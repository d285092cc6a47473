"""The reporting use case (services/reporting.py) against an in-memory store: who may ask about whose invoices,
what reaches the store (the query and the caller's scope), the order of the groups and their grand total."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from fapiao_server.domain.access import Principal, Role, Scope
from fapiao_server.domain.errors import InvalidArgument, PermissionDenied
from fapiao_server.domain.invoice import InvoiceState
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.reporting import Grouping, SummaryQuery, Totals
from fapiao_server.services.reporting import ReportingService
from tests.support.fakes import CannedReports

SELLER = "91110108551385082Q"
OTHER = "9144030071526726XG"
TAXPAYER = Principal("taxpayer-1", Role.TAXPAYER, tax_ids=frozenset({SELLER}))
OFFICER = Principal("officer-1", Role.TAX_OFFICER, regions=frozenset({"1100"}))
VERIFIER = Principal("verifier-1", Role.VERIFIER)
YEAR = {"start_date": date(2026, 1, 1), "end_date": date(2026, 12, 31)}
GROUPS = [
    Totals(2, 300, 39, 339, invoice_type=InvoiceType.DIGITAL_GENERAL, state=InvoiceState.ISSUED),
    Totals(1, -100, -13, -113, invoice_type=InvoiceType.VAT_SPECIAL, state=InvoiceState.ISSUED),
    Totals(1, 50, 0, 50, invoice_type=InvoiceType.VAT_SPECIAL, state=InvoiceState.VOIDED),
]


def summarize(actor: Principal, **query: object) -> tuple[list[Totals], Totals, CannedReports]:
    store = CannedReports(GROUPS)
    groups, total = asyncio.run(ReportingService(store).summarize(SummaryQuery(**{**YEAR, **query}), actor))  # type: ignore[arg-type]
    return groups, total, store


def test_a_taxpayer_reports_on_its_own_tax_id_in_its_own_scope() -> None:
    groups, total, store = summarize(TAXPAYER, seller_tax_id=SELLER, group_by=(Grouping.TYPE, Grouping.STATE))
    ((asked, scope),) = store.asked
    assert asked.seller_tax_id == SELLER and scope == Scope(tax_ids=frozenset({SELLER}))
    # Ordered by the groupings asked for, in their order: type 01 before 32, then ISSUED before VOIDED.
    assert [(group.invoice_type, group.state) for group in groups] == [
        (InvoiceType.VAT_SPECIAL, InvoiceState.ISSUED),
        (InvoiceType.VAT_SPECIAL, InvoiceState.VOIDED),
        (InvoiceType.DIGITAL_GENERAL, InvoiceState.ISSUED),
    ]
    # Red-letter amounts count negative, exactly.
    assert (total.invoice_count, total.amount_fen, total.tax_fen, total.total_fen) == (4, 250, 26, 276)


def test_a_taxpayer_asking_about_someone_else_is_refused_not_told_zero() -> None:
    for query in ({"seller_tax_id": OTHER}, {"buyer_tax_id": OTHER}, {"region": "1100"}):
        with pytest.raises(PermissionDenied) as refused:
            summarize(TAXPAYER, **query)
        assert refused.value.reason in {"NOT_THE_TAXPAYER", "NOT_THE_REGION_OFFICER"}


def test_an_officer_reports_on_its_regions_and_on_any_tax_id_within_them() -> None:
    _, _, store = summarize(OFFICER, region="1100")
    assert store.asked[0][1] == Scope(regions=frozenset({"1100"}))
    _, _, store = summarize(OFFICER, buyer_tax_id=OTHER)  # counted only in its regions, by the scope
    assert store.asked[0][1] == Scope(regions=frozenset({"1100"}))
    with pytest.raises(PermissionDenied) as refused:
        summarize(OFFICER, region="4400")
    assert refused.value.reason == "NOT_THE_REGION_OFFICER"


def test_a_role_without_invoices_is_refused() -> None:
    with pytest.raises(PermissionDenied) as refused:
        summarize(VERIFIER, seller_tax_id=SELLER)
    assert refused.value.reason == "NOT_THE_TAXPAYER"


def test_a_query_that_cannot_mean_anything_is_refused_before_the_store_is_asked() -> None:
    store = CannedReports(GROUPS)
    wrong = SummaryQuery(date(2026, 2, 1), date(2026, 1, 1), seller_tax_id=SELLER, region="1100",
                         group_by=(Grouping.MONTH, Grouping.MONTH))  # fmt: skip
    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(ReportingService(store).summarize(wrong, TAXPAYER))
    assert refused.value.reason == "INVALID_SUMMARY"
    assert [violation.field for violation in refused.value.violations] == ["seller_tax_id", "end_date", "group_by"]
    assert store.asked == []
