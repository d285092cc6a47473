"""`fapiao red-letter create | confirm | reject | withdraw | issue | get | list`: red-letter confirmation forms
(红字确认单) and the red invoices issued from them."""

from __future__ import annotations

import argparse

from rich.console import Console

from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import lifecycle_pb2

from ..invoice_client import InvoiceClient
from ..money import fen_to_yuan, yuan_to_fen
from .render import invoice_key, print_invoice, state_name
from .render_lifecycle import form_state_text, forms_table, print_form
from .session import change_id, invoice_argument, page_size, run, show, show_many


def line_item(text: str) -> tuple[int, int]:
    """``--line N[:YUAN]``: original line N, wholly (amount 0) or by YUAN excluding tax, as (line, fen)."""
    number, colon, amount = text.strip().partition(":")
    if not (number.isascii() and number.isdigit() and int(number) > 0) or (colon and not amount):
        raise ValueError(f"--line {text!r}: write N or N:YUAN, e.g. 2 (all of line 2) or 2:100.00")
    if not colon:
        return int(number), 0
    try:
        fen = yuan_to_fen(amount)
    except ValueError as error:
        raise ValueError(f"--line {text!r}: {error}") from None
    if fen <= 0:
        raise ValueError(f"--line {text!r}: the amount to reverse must be positive")
    return int(number), fen


def _form(options: argparse.Namespace, form: lifecycle_pb2.RedLetterForm, verb: str) -> int:
    def human(console: Console) -> None:
        if verb:
            console.print(f"{verb} form {form.id}: {form_state_text(form.state)}", markup=False)
        print_form(form, console)

    return show(options, form, human)


def create(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        form = client.create_red_letter_form(
            invoice_argument(options),
            reason=options.reason,
            initiator=options.party,
            items=[line_item(text) for text in options.line],
            remarks=options.remarks,
            request_id=change_id(options),
        )
        return _form(options, form, "entered")

    return run(options, call)


def _answer(options: argparse.Namespace, method: str, verb: str, **reason: str) -> int:
    def call(client: InvoiceClient) -> int:
        answer = getattr(client, method)
        form = answer(options.form_id, party=options.party, request_id=change_id(options), **reason)
        return _form(options, form, verb)

    return run(options, call)


def confirm(options: argparse.Namespace) -> int:
    return _answer(options, "confirm_red_letter_form", "confirmed")


def reject(options: argparse.Namespace) -> int:
    return _answer(options, "reject_red_letter_form", "refused", reason=options.reason)


def withdraw(options: argparse.Namespace) -> int:
    return _answer(options, "withdraw_red_letter_form", "withdrew", reason=options.reason)


def issue(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        answer = client.issue_red_invoice(options.form_id, request_id=change_id(options))
        return show(options, answer, lambda console: _print_red(answer, console))

    return run(options, call)


def _print_red(answer: pb.IssueRedInvoiceResponse, console: Console) -> None:
    red, original = answer.invoice, answer.original_invoice
    console.print(
        f"issued red invoice {invoice_key(red)} (id {red.id}) for {fen_to_yuan(red.total_fen)} yuan; "
        f"{invoice_key(original)} is now {state_name(original.state)} "
        f"({fen_to_yuan(original.reversed_amount_fen)} of {fen_to_yuan(original.amount_fen)} yuan reversed)",
        markup=False,
    )
    print_invoice(red, console)


def get(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        return _form(options, client.get_red_letter_form(options.form_id), "")

    return run(options, call)


def list_forms(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        invoice = None
        if options.invoice or options.invoice_id:
            invoice = invoice_argument(options, options.invoice or "", options.invoice_id or "")
        if not (options.seller or options.buyer or invoice):
            raise ValueError("give --seller TAX_ID, --buyer TAX_ID or --invoice INVOICE")
        forms = client.list_red_letter_forms(
            page_size=page_size(options),
            seller_tax_id=options.seller,
            buyer_tax_id=options.buyer,
            invoice=invoice,
            state=options.state,
        )
        return show_many(options, forms, forms_table, "forms")

    return run(options, call)
