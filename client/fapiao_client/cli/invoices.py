"""`fapiao issue | void | certify | report-period` and `fapiao invoice get | list | events | actions`."""

from __future__ import annotations

import argparse
import re
import sys

from rich.console import Console

from fapiao.v1 import invoice_pb2

from ..drafts import read_issue_requests
from ..invoice_client import InvoiceClient
from ..requests import new_request_id
from .json_output import message_json
from .render import invoice_key, print_invoice, time_text, type_text
from .render_lifecycle import events_table, invoices_table, print_actions
from .session import change_id, invoice_argument, page_size, run, show, show_many

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8-sig") as source:
            return source.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None


def _changed(options: argparse.Namespace, invoice: invoice_pb2.Invoice, verb: str) -> int:
    def human(console: Console) -> None:
        console.print(f"{verb} {type_text(invoice.invoice_type)} {invoice_key(invoice)} (id {invoice.id})")
        print_invoice(invoice, console)

    return show(options, invoice, human)


def issue(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        # Every draft is read and checked before the first is sent: a file with any mistake issues nothing.
        drafts = read_issue_requests(_read(options.file))
        if len(drafts) == 1:
            invoice = client.issue_invoice(drafts[0], request_id=change_id(options, drafts[0].request_id))
            return _changed(options, invoice, "issued")
        if options.request_id:
            raise ValueError('--request-id names one change; give each draft of the file its own "request_id"')
        for number, draft in enumerate(drafts, 1):
            options.request_id = draft.request_id or new_request_id()  # named if the outcome is unknown
            invoice = client.issue_invoice(draft, request_id=options.request_id)
            if options.json:
                print(message_json(invoice, one_line=True), flush=True)
            else:
                _changed(options, invoice, f"[{number}/{len(drafts)}] issued")
        return 0

    return run(options, call)


def void(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        selector = invoice_argument(options)
        invoice = client.void_invoice(selector, reason=options.reason, request_id=change_id(options))
        return _changed(options, invoice, "voided")

    return run(options, call)


def certify(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        invoice = client.certify_invoice(invoice_argument(options), request_id=change_id(options))
        return _changed(options, invoice, "certified")

    return run(options, call)


def report_period(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        period = _PERIOD.fullmatch(options.period.strip())
        if period is None:
            raise ValueError(f"YYYY-MM: {options.period!r} is not a month such as 2026-11")
        year, month = int(period[1]), int(period[2])
        answer = client.report_tax_period(options.tax_id, year, month, request_id=change_id(options))
        said = f"{options.tax_id.upper()} reported {year:04d}-{month:02d} (recorded {time_text(answer.report_time)})"
        return show(options, answer, lambda console: console.print(said, markup=False))

    return run(options, call)


def get(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        invoice = client.get_invoice(invoice_argument(options), view=options.view)
        return show(options, invoice, lambda console: print_invoice(invoice, console))

    return run(options, call)


def list_invoices(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        if not (options.seller or options.buyer or options.region):
            raise ValueError("give --seller TAX_ID, --buyer TAX_ID or --region CODE")
        invoices = client.list_invoices(
            page_size=page_size(options),
            seller_tax_id=options.seller,
            buyer_tax_id=options.buyer,
            region_code=options.region,
            state=options.state,
            invoice_type=options.type,
            start_date=options.start_date,
            end_date=options.end_date,
        )
        return show_many(options, invoices, invoices_table, "invoices")

    return run(options, call)


def events(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        history = client.list_invoice_events(invoice_argument(options), page_size=1000)
        options.limit = 0  # a history is shown whole
        return show_many(options, history, events_table, "events")

    return run(options, call)


def actions(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        answer = client.get_allowed_actions(invoice_argument(options))
        return show(options, answer, lambda console: print_actions(answer, console))

    return run(options, call)
