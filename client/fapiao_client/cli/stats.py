"""`fapiao stats`: counts and exact sums of the invoices of a seller, a buyer or a region issued over a range of
dates, broken down by type, state, month or region (数据统计).

People get one row per group and a total row, amounts in yuan with two decimals worked out from integer fen;
--json prints the answer with the proto field names (amounts in fen). The client and rich are imported when the
command runs, not when the CLI starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from .examples import examples

if TYPE_CHECKING:
    from rich.table import Table

    from fapiao.v1 import report_service_pb2 as pb

    from ..report_client import ReportClient

GROUPINGS = ("type", "state", "month", "region")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def _groupings(value: str) -> tuple[str, ...]:
    """``type,month`` -> ("type", "month"): known groupings, each at most once."""
    names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
    for name in names:
        if name not in GROUPINGS:
            raise argparse.ArgumentTypeError(f"{name!r} is not a grouping; use {', '.join(GROUPINGS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{value!r} names a grouping twice")
    return names


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `stats`; ``common`` adds --target, the TLS options and --json."""
    stats = commands.add_parser(
        "stats",
        help="count and sum invoices of a seller, buyer or region (数据统计)",
        **examples(
            "fapiao stats --seller 91110108MA01ABCD0B --from 2026-01-01 --to 2026-12-31 --by month,type",
            "fapiao stats --buyer 91310101MA1FPX1234 --from 2026-10-01 --to 2026-10-31 --state issued --type 01",
            "fapiao stats --region 1100 --from 2026-11-01 --to 2026-11-30 --by type --json   # tax officers",
        ),
    )
    common(stats)
    whose = stats.add_mutually_exclusive_group(required=True)
    whose.add_argument("--seller", metavar="TAX_ID", default="", help="invoices this tax id issued")
    whose.add_argument("--buyer", metavar="TAX_ID", default="", help="invoices this tax id bought")
    whose.add_argument("--region", metavar="CODE", default="", help="(tax officers) invoices of this 4-digit region")
    stats.add_argument("--from", dest="start_date", required=True, type=_day, metavar="YYYY-MM-DD",
                       help="issued on or after (Beijing date)")  # fmt: skip
    stats.add_argument("--to", dest="end_date", required=True, type=_day, metavar="YYYY-MM-DD",
                       help="issued on or before (at most 366 days after --from)")  # fmt: skip
    stats.add_argument("--state", default="", help="only issued, voided, partially-reversed or fully-reversed ones")
    stats.add_argument("--type", default="", metavar="FPLX", help="only this invoice type, e.g. 04 or 32")
    stats.add_argument("--by", type=_groupings, default=(), metavar="GROUPS",
                       help=f"break the totals down by these, in order: {','.join(GROUPINGS)}")  # fmt: skip
    stats.set_defaults(handler=summarize, command=stats.prog)


def summarize(options: argparse.Namespace) -> int:
    from ..report_client import ReportClient
    from .session import run, show

    def call(client: ReportClient) -> int:
        report = client.summarize_invoices(
            seller_tax_id=options.seller,
            buyer_tax_id=options.buyer,
            region_code=options.region,
            start_date=options.start_date,
            end_date=options.end_date,
            state=options.state,
            invoice_type=options.type,
            group_by=options.by,
        )
        return show(options, report, lambda console: console.print(totals_table(report, options.by)))

    return run(options, call, ReportClient)


def totals_table(report: pb.SummarizeInvoicesResponse, group_by: Sequence[str]) -> Table:
    """One row per group (its grouping values, then its count and sums in yuan) and a total row."""
    from rich.table import Table

    from ..money import fen_to_yuan
    from .render import state_name, type_text

    cells: dict[str, Callable[[pb.InvoiceTotals], str]] = {
        "type": lambda totals: type_text(totals.invoice_type) if totals.invoice_type else "",
        "state": lambda totals: state_name(totals.state),
        "month": lambda totals: totals.month,
        "region": lambda totals: totals.region_code,
    }

    def sums(totals: pb.InvoiceTotals) -> list[str]:
        amounts = (totals.amount_fen, totals.tax_fen, totals.total_fen)
        return [str(totals.invoice_count), *(fen_to_yuan(fen) for fen in amounts)]

    table = Table(*(group_by or [""]))
    for header in ("invoices", "amount (yuan)", "tax (yuan)", "total (yuan)"):
        table.add_column(header, justify="right")
    groups = report.groups if group_by else []
    for index, group in enumerate(groups):
        table.add_row(*(cells[name](group) for name in group_by), *sums(group), end_section=index == len(groups) - 1)
    labels = ["total", *([""] * (len(group_by) - 1))]
    table.add_row(*labels, *sums(report.total), style="bold")
    return table
