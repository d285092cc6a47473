"""`fapiao verify`: one invoice, by its fields or its QR payload."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from ..errors import FapiaoError
from ..money import yuan_to_fen
from ..requests import verify_request
from ..signatures import save_receipt
from ..sync_client import VerificationClient
from .connection import client_arguments
from .failures import print_error
from .json_output import message_json
from .render import OUTCOME_EXIT, print_verification


def _request_fields(options: argparse.Namespace) -> dict[str, object]:
    if not options.number or not options.date:
        raise ValueError("give --number and --date (and --code for legacy invoices), or --qr")
    try:
        issue_date = date.fromisoformat(options.date)
    except ValueError:
        raise ValueError(f"--date: {options.date!r} is not a date YYYY-MM-DD") from None
    fields: dict[str, object] = {
        "invoice_code": options.code,
        "invoice_number": options.number,
        "issue_date": issue_date,
        "invoice_type": options.type,
        "with_receipt": options.receipt is not None,
    }
    if options.check_code is not None:
        fields["check_code"] = options.check_code
    for flag, name in (("amount", "amount_fen"), ("total", "total_fen")):
        value = getattr(options, flag)
        if value is not None:
            try:
                fields[name] = yuan_to_fen(value)
            except ValueError as error:
                raise ValueError(f"--{flag}: {error}") from None
    return fields


def run(options: argparse.Namespace) -> int:
    with VerificationClient(options.target, wait_for_ready=False, **client_arguments(options)) as client:
        try:
            if options.qr is not None:
                qr_answer = client.verify_qr_code(options.qr, with_receipt=options.receipt is not None)
                answer, shown = qr_answer.verification, qr_answer
            else:
                try:
                    request = verify_request(**_request_fields(options))  # type: ignore[arg-type]
                except ValueError as error:
                    print(f"fapiao verify: {error}", file=sys.stderr)
                    return 2
                answer = client.verify_invoice(request)
                shown = answer
        except FapiaoError as error:
            return print_error(error, options)
    if options.receipt is not None:
        if not answer.HasField("receipt"):  # a register from before receipts ignores the request
            print("fapiao verify: the register sent no receipt", file=sys.stderr)
            return 1
        save_receipt(answer.receipt, options.receipt)
        print(f"receipt saved to {options.receipt} (check it with `fapiao receipt check`)", file=sys.stderr)
    if options.json:
        print(message_json(shown))
    else:
        print_verification(answer)
    return OUTCOME_EXIT.get(answer.outcome, 1)
