"""How answers look on a terminal (rich) or as JSON (protobuf's JSON mapping)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from fapiao.v1 import invoice_pb2
from fapiao.v1 import verification_service_pb2 as pb

from ..errors import FapiaoError
from ..money import fen_to_yuan

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
}
OUTCOME_EXIT = {
    pb.VERIFICATION_OUTCOME_MATCH: 0,
    pb.VERIFICATION_OUTCOME_MISMATCH: 3,
    pb.VERIFICATION_OUTCOME_NOT_FOUND: 4,
}


def to_json(message: Any) -> str:
    return json_format.MessageToJson(message, ensure_ascii=False, indent=2)


def outcome_name(outcome: int) -> str:
    return pb.VerificationOutcome.Name(outcome).removeprefix("VERIFICATION_OUTCOME_")


def state_name(state: int) -> str:
    return invoice_pb2.InvoiceState.Name(state).removeprefix("INVOICE_STATE_") if state else ""


def print_error(error: FapiaoError, *, as_json: bool) -> int:
    if as_json:
        body = {
            "code": error.code.name,
            "message": error.message,
            "reason": error.reason,
            "fieldViolations": [{"field": v.field, "description": v.description} for v in error.field_violations],
        }
        print(json.dumps({"error": body}, ensure_ascii=False, indent=2))
    else:
        console = Console(stderr=True)
        console.print(f"[bold red]error[/]: {error.code.name}" + (f" ({error.reason})" if error.reason else ""))
        if not error.field_violations:
            console.print(f"  {error.message}", markup=False)
        for violation in error.field_violations:
            console.print(f"  {FLAGS.get(violation.field, violation.field)}: {violation.description}", markup=False)
    return 2 if error.code.name == "INVALID_ARGUMENT" else 1


def print_verification(response: pb.VerifyInvoiceResponse) -> None:
    console = Console()
    outcome = outcome_name(response.outcome)
    colour = {"MATCH": "green", "MISMATCH": "yellow", "NOT_FOUND": "red"}.get(outcome, "white")
    console.print(f"[bold {colour}]{outcome}[/]  (verification {response.verification_id})")
    if response.outcome == pb.VERIFICATION_OUTCOME_MISMATCH:
        fields = ", ".join(FLAGS.get(f, f) for f in response.mismatched_fields)
        console.print(f"These fields disagree with the register: {fields}", markup=False)
        return
    if response.outcome != pb.VERIFICATION_OUTCOME_MATCH:
        console.print("The register has no invoice with this code and number.")
        return
    invoice = response.invoice
    summary = Table.grid(padding=(0, 2))
    kind = invoice_pb2.InvoiceType.Name(invoice.invoice_type).removeprefix("INVOICE_TYPE_")
    date = f"{invoice.issue_date.year:04d}-{invoice.issue_date.month:02d}-{invoice.issue_date.day:02d}"
    for label, value in (
        ("state", state_name(invoice.state)),
        ("type", f"{invoice.invoice_type:02d} {kind}"),
        ("code / number", f"{invoice.invoice_code or '-'} / {invoice.invoice_number}"),
        ("issue date", date),
        ("seller", f"{invoice.seller.name} ({invoice.seller.tax_id})"),
        ("buyer", f"{invoice.buyer.name} ({invoice.buyer.tax_id or 'individual'})"),
        ("amount / tax / total", f"{fen_to_yuan(invoice.amount_fen)} / {fen_to_yuan(invoice.tax_fen)} / "
                                 f"{fen_to_yuan(invoice.total_fen)} yuan"),
    ):  # fmt: skip
        summary.add_row(label, value)
    console.print(summary)
    lines = Table("#", "item", "quantity", "unit price", "amount", "rate", "tax")
    for line in invoice.lines:
        lines.add_row(
            str(line.line_number),
            line.item_name,
            line.quantity,
            line.unit_price,
            fen_to_yuan(line.amount_fen),
            f"{line.tax_rate_basis_points / 100:g}%",
            fen_to_yuan(line.tax_fen),
        )
    console.print(lines)
