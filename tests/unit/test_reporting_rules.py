"""The rules of a summary query and its grand total (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fapiao_server.domain.calendar import business_date, business_days_span
from fapiao_server.domain.errors import InvalidArgument
from fapiao_server.domain.reporting import Grouping, SummaryQuery, Totals, check_summary, grand_total

SELLER = "91330106MA2B0C4X1L"


def fields_refused(query: SummaryQuery) -> list[str]:
    with pytest.raises(InvalidArgument) as refused:
        check_summary(query)
    assert refused.value.reason == "INVALID_SUMMARY"
    return [violation.field for violation in refused.value.violations]


def test_a_leap_year_fits_and_one_day_more_does_not() -> None:
    check_summary(SummaryQuery(date(2024, 1, 1), date(2024, 12, 31), seller_tax_id=SELLER))  # 366 days
    check_summary(SummaryQuery(date(2024, 5, 5), date(2024, 5, 5), region="1100"))  # one day
    assert fields_refused(SummaryQuery(date(2024, 1, 1), date(2025, 1, 1), seller_tax_id=SELLER)) == ["end_date"]
    assert fields_refused(SummaryQuery(date(2024, 1, 2), date(2024, 1, 1), region="1100")) == ["end_date"]


def test_exactly_one_party_or_region_and_each_grouping_once() -> None:
    both = SummaryQuery(date(2026, 1, 1), date(2026, 1, 31), seller_tax_id=SELLER, buyer_tax_id=SELLER,
                        group_by=(Grouping.MONTH, Grouping.MONTH))  # fmt: skip
    assert fields_refused(both) == ["seller_tax_id", "group_by"]
    assert fields_refused(SummaryQuery(date(2026, 1, 1), date(2026, 1, 31))) == ["seller_tax_id"]


def test_the_grand_total_adds_every_group_exactly() -> None:
    groups = [Totals(2, 10**15, 13 * 10**13, 113 * 10**13), Totals(1, -5, -1, -6), Totals(0, 0, 0, 0)]
    assert grand_total(groups) == Totals(3, 10**15 - 5, 13 * 10**13 - 1, 113 * 10**13 - 6)
    assert grand_total([]) == Totals(0, 0, 0, 0)


def test_a_range_of_business_days_is_beijing_midnight_to_midnight() -> None:
    first, after = business_days_span(date(2026, 1, 1), date(2026, 1, 31))
    assert (first.astimezone(UTC), after.astimezone(UTC)) == (
        datetime(2025, 12, 31, 16, tzinfo=UTC),
        datetime(2026, 1, 31, 16, tzinfo=UTC),
    )
    assert business_date(first) == date(2026, 1, 1)
    assert business_date(after - timedelta(microseconds=1)) == date(2026, 1, 31)


def test_a_range_ending_on_the_last_date_ends_at_the_last_instant() -> None:
    first, after = business_days_span(date(9999, 12, 1), date.max)
    assert business_date(first) == date(9999, 12, 1)
    assert business_date(after) == date.max and after > datetime(9999, 12, 31, 15, 59, tzinfo=UTC)
