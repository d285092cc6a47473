"""How invoices, red-letter forms, events and allowed actions look on a terminal; amounts in yuan."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from fapiao.v1 import invoice_pb2, lifecycle_pb2
from fapiao.v1 import invoice_service_pb2 as pb

from ..money import fen_to_yuan
from ..requests import enum_label
from .render import date_text, invoice_key, print_lines, print_summary, state_name, time_text, type_text


def _table(*headers: str) -> Table:
    """A table whose cells wrap rather than cut: an invoice number shown in part is worse than none."""
    table = Table(*headers)
    for column in table.columns:
        column.overflow = "fold"
    return table


def form_state_text(state: int) -> str:
    """A form state as the national code and its name: ``02 AWAITING_BUYER``."""
    return f"{state:02d} {enum_label(lifecycle_pb2.RedLetterFormState, state)}" if state else ""


def print_form(form: lifecycle_pb2.RedLetterForm, console: Console) -> None:
    rows = [
        ("form", form.id),
        ("state", form_state_text(form.state)),
        ("reason", f"{form.reason} {enum_label(lifecycle_pb2.RedLetterReason, form.reason)}"),
        ("entered by", enum_label(lifecycle_pb2.TradeParty, form.initiator)),
        ("reverses", f"{invoice_key(form.original_invoice)} (register id {form.original_invoice.id})"),
        ("seller / buyer", f"{form.seller_tax_id} / {form.buyer_tax_id or 'individual'}"),
        ("amount / tax / total", f"{fen_to_yuan(form.amount_fen)} / {fen_to_yuan(form.tax_fen)} / "
                                 f"{fen_to_yuan(form.total_fen)} yuan"),
        ("entered", time_text(form.create_time)),
        ("void unless answered by", time_text(form.expire_time)),
        ("red invoice", invoice_key(form.red_invoice) if form.HasField("red_invoice") else ""),
        ("remarks", form.remarks),
    ]  # fmt: skip
    print_summary(rows, console)
    print_lines(form.lines, console)


def invoices_table(invoices: list[invoice_pb2.Invoice]) -> Table:
    table = _table("id", "type", "invoice", "issued", "state", "seller", "buyer", "total (yuan)")
    for invoice in invoices:
        table.add_row(
            invoice.id,
            type_text(invoice.invoice_type),
            invoice_key(invoice),
            date_text(invoice.issue_date),
            state_name(invoice.state),
            invoice.seller.tax_id,
            invoice.buyer.tax_id or "individual",
            fen_to_yuan(invoice.total_fen),
        )
    return table


def forms_table(forms: list[lifecycle_pb2.RedLetterForm]) -> Table:
    table = _table("form", "state", "reason", "by", "reverses", "total (yuan)", "entered", "red invoice")
    for form in forms:
        table.add_row(
            form.id,
            form_state_text(form.state),
            enum_label(lifecycle_pb2.RedLetterReason, form.reason),
            enum_label(lifecycle_pb2.TradeParty, form.initiator),
            invoice_key(form.original_invoice),
            fen_to_yuan(form.total_fen),
            time_text(form.create_time),
            invoice_key(form.red_invoice) if form.HasField("red_invoice") else "",
        )
    return table


def event_cells(event: lifecycle_pb2.InvoiceEvent) -> list[str]:
    """time, what, the invoice, its state change, the form's, who, and why (or how much)."""
    states = state_name(event.state_after)
    if event.state_before and event.state_before != event.state_after:
        states = f"{state_name(event.state_before)} -> {states}"
    form = ""
    if event.red_letter_form_id:
        before = f"{event.form_state_before:02d} -> " if event.form_state_before else ""
        form = f"{event.red_letter_form_id}: {before}{form_state_text(event.form_state_after)}"
    detail = event.reason
    if event.reversed_amount_fen:
        detail = f"{fen_to_yuan(event.reversed_amount_fen)} yuan by {invoice_key(event.red_invoice)}"
    return [
        time_text(event.event_time),
        enum_label(lifecycle_pb2.InvoiceEventType, event.event_type),
        invoice_key(event.invoice),
        states,
        form,
        event.actor,
        detail,
    ]


def events_table(events: list[lifecycle_pb2.InvoiceEvent]) -> Table:
    table = _table("time", "event", "invoice", "state", "red-letter form", "by", "detail")
    for event in events:
        table.add_row(*event_cells(event))
    return table


def print_actions(answer: pb.GetAllowedActionsResponse, console: Console) -> None:
    console.print(f"state: {state_name(answer.state)}", markup=False)
    table = _table("action", "allowed", "why not / how")
    for action in answer.actions:
        if action.allowed:
            how = [
                f"until {time_text(action.deadline)}" if action.HasField("deadline") else "",
                f"{fen_to_yuan(action.reversible_amount_fen)} yuan left to reverse"
                if action.action == pb.INVOICE_ACTION_CREATE_RED_LETTER_FORM
                else "",
                "needs the buyer's confirmation" if action.needs_confirmation else "",
                f"form {action.red_letter_form_id}" if action.red_letter_form_id else "",
            ]
            detail = "; ".join(part for part in how if part)
        else:
            detail = f"{action.refusal_reason}: {action.description}"
        table.add_row(enum_label(pb.InvoiceAction, action.action), "yes" if action.allowed else "no", detail)
    console.print(table)
