"""How answers look on a terminal (rich); --json output is json_output's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date
from rich.console import Console
from rich.table import Table

from fapiao.v1 import invoice_pb2
from fapiao.v1 import verification_service_pb2 as pb

from ..money import basis_points_to_percent, fen_to_yuan

BEIJING = timezone(timedelta(hours=8))

# Request fields as the CLI spells them, for error messages.
FLAGS = {
    "invoice_code": "--code",
    "invoice_number": "--number",
    "issue_date": "--date",
    "check_code": "--check-code",
    "amount_fen": "--amount",
    "total_fen": "--total",
    "invoice_type": "--type",
    "payload": "--qr",
    # invoice list, watch and stats name the same fields alike
    "seller_tax_id": "--seller",
    "buyer_tax_id": "--buyer",
    "region_code": "--region",
    "start_date": "--from",
    "end_date": "--to",
    "group_by": "--by",
}
OUTCOME_EXIT = {
    pb.VERIFICATION_OUTCOME_MATCH: 0,
    pb.VERIFICATION_OUTCOME_MISMATCH: 3,
    pb.VERIFICATION_OUTCOME_NOT_FOUND: 4,
}


def outcome_name(outcome: int) -> str:
    return pb.VerificationOutcome.Name(outcome).removeprefix("VERIFICATION_OUTCOME_")


def state_name(state: int) -> str:
    return invoice_pb2.InvoiceState.Name(state).removeprefix("INVOICE_STATE_") if state else ""


def print_verification(response: pb.VerifyInvoiceResponse) -> None:
    console = Console()
    outcome = outcome_name(response.outcome)
    colour = {"MATCH": "green", "MISMATCH": "yellow", "NOT_FOUND": "red"}.get(outcome, "white")
    console.print(f"[bold {colour}]{outcome}[/]  (verification {response.verification_id})")
    if response.HasField("verifications_left_today"):
        left = response.verifications_left_today
        console.print(f"{left} more verification{'' if left == 1 else 's'} of this invoice allowed today")
    if response.outcome == pb.VERIFICATION_OUTCOME_MISMATCH:
        fields = ", ".join(FLAGS.get(f, f) for f in response.mismatched_fields)
        console.print(f"These fields disagree with the register: {fields}", markup=False)
        return
    if response.outcome != pb.VERIFICATION_OUTCOME_MATCH:
        console.print("The register has no invoice with this code and number.")
        return
    print_invoice(response.invoice, console)


def date_text(day: Date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def time_text(stamp: Timestamp) -> str:
    """An instant as Beijing time (China keeps UTC+8 all year), to the second; "" when unset."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return stamp.ToDatetime(BEIJING).strftime("%Y-%m-%d %H:%M:%S%z")


def invoice_key(invoice: invoice_pb2.Invoice | invoice_pb2.InvoiceReference) -> str:
    """How the CLI names an invoice: CODE:NUMBER, or the 数电 number alone (what INVOICE arguments take)."""
    return f"{invoice.invoice_code}:{invoice.invoice_number}" if invoice.invoice_code else invoice.invoice_number


def type_text(invoice_type: int) -> str:
    return f"{invoice_type:02d} {invoice_pb2.InvoiceType.Name(invoice_type).removeprefix('INVOICE_TYPE_')}"


def print_invoice(invoice: invoice_pb2.Invoice, console: Console) -> None:
    """An invoice's summary (what it is, where it stands) and its lines, amounts in yuan."""
    rows = [
        ("state", state_name(invoice.state)),
        ("type", type_text(invoice.invoice_type)),
        ("code / number", f"{invoice.invoice_code or '-'} / {invoice.invoice_number}"),
        ("register id", invoice.id),
        ("issue date", date_text(invoice.issue_date)),
        ("seller", f"{invoice.seller.name} ({invoice.seller.tax_id})"),
        ("buyer", f"{invoice.buyer.name} ({invoice.buyer.tax_id or 'individual'})"),
        ("amount / tax / total", f"{fen_to_yuan(invoice.amount_fen)} / {fen_to_yuan(invoice.tax_fen)} / "
                                 f"{fen_to_yuan(invoice.total_fen)} yuan"),
        ("certified", time_text(invoice.certify_time)),
        ("voided", time_text(invoice.void_time)),
        ("reversed so far", fen_to_yuan(invoice.reversed_amount_fen) + " yuan" if invoice.reversed_amount_fen else ""),
        ("red invoices", ", ".join(invoice_key(red) for red in invoice.red_letter_invoices)),
        ("reverses", invoice_key(invoice.original_invoice) if invoice.red_letter else ""),
        ("red-letter form", invoice.red_letter_form_id),
    ]  # fmt: skip
    print_summary(rows, console)
    print_lines(invoice.lines, console)


def print_summary(rows: Iterable[tuple[str, str]], console: Console) -> None:
    """Label / value rows, leaving out those with no value."""
    summary = Table.grid(padding=(0, 2))
    for label, value in rows:
        if value:
            summary.add_row(label, value)
    console.print(summary, markup=False)


def print_lines(lines: Iterable[invoice_pb2.InvoiceLine], console: Console) -> None:
    table = Table("#", "item", "quantity", "unit price", "amount", "rate", "tax")
    for line in lines:
        table.add_row(
            str(line.line_number),
            line.item_name,
            line.quantity,
            line.unit_price,
            fen_to_yuan(line.amount_fen),
            basis_points_to_percent(line.tax_rate_basis_points),
            fen_to_yuan(line.tax_fen),
        )
    if table.row_count:
        console.print(table)
