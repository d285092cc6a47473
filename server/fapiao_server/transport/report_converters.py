"""Conversions between the ReportService protos and reporting domain values."""

from __future__ import annotations

from fapiao.v1 import report_service_pb2 as pb

from ..domain.errors import Violations
from ..domain.reporting import Grouping, SummaryQuery, Totals
from .lifecycle_converters import optional_date, region_filter, state_filter, tax_id_filter, type_filter


def summary_query(message: pb.SummarizeInvoicesRequest) -> SummaryQuery:
    """The query a request asks for; every malformed field is named at once (INVALID_SUMMARY)."""
    problems = Violations()
    dates = {}
    for field in ("start_date", "end_date"):
        if message.HasField(field):
            dates[field] = optional_date(problems, field, getattr(message, field), True)
        else:
            problems.add(field, "required: a report covers a range of issue dates")
    group_by = []
    for index, value in enumerate(message.group_by):
        try:
            group_by.append(Grouping(value))
        except ValueError:
            problems.add(f"group_by[{index}]", f"{value} is not a grouping (type, state, month or region)")
    where = {
        "seller_tax_id": tax_id_filter(problems, "seller_tax_id", message.seller_tax_id),
        "buyer_tax_id": tax_id_filter(problems, "buyer_tax_id", message.buyer_tax_id),
        "region": region_filter(problems, "region_code", message.region_code),
        "state": state_filter(problems, message.state),
        "invoice_type": type_filter(problems, message.invoice_type),
    }
    problems.raise_if_any("INVALID_SUMMARY")
    return SummaryQuery(group_by=tuple(group_by), **dates, **where)  # type: ignore[arg-type]


def totals_message(totals: Totals) -> pb.InvoiceTotals:
    return pb.InvoiceTotals(
        invoice_type=0 if totals.invoice_type is None else int(totals.invoice_type),  # type: ignore[arg-type]
        state=0 if totals.state is None else int(totals.state),  # type: ignore[arg-type]
        month=totals.month or "",
        region_code=totals.region or "",
        invoice_count=totals.invoice_count,
        amount_fen=totals.amount_fen,
        tax_fen=totals.tax_fen,
        total_fen=totals.total_fen,
    )
