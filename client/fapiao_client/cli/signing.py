"""`fapiao public-keys` and `fapiao receipt check`: the register's public keys, and receipts checked offline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import FapiaoError
from ..key_client import RegisterKeyClient
from ..signatures import PublicKeys, SignatureError, load_receipt, verify_receipt
from .connection import client_arguments
from .examples import examples
from .failures import print_error
from .json_output import data_json, message_json

# A receipt whose signature does not check out, or that cannot be read.
EXIT_BAD_RECEIPT = 8


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    keys = commands.add_parser(
        "public-keys",
        help="print or save the register's public signing keys",
        **examples("fapiao public-keys -o register-keys.json   # for `receipt check --keys`", "fapiao public-keys"),
    )
    keys.add_argument("--output", "-o", metavar="FILE", help="save them to FILE (for `receipt check --keys`)")
    common(keys)
    keys.set_defaults(handler=_public_keys, command=keys.prog)

    receipt = commands.add_parser(
        "receipt",
        help="check a verification receipt saved by `verify --receipt`",
        **examples("fapiao receipt check r.json --keys register-keys.json"),
    )
    receipt_commands = receipt.add_subparsers(title="receipt commands", metavar="COMMAND", required=True)
    check = receipt_commands.add_parser(
        "check",
        help="check a receipt's signature and show what it states",
        **examples(
            "fapiao receipt check r.json --keys register-keys.json   # offline; exit 8 if it was altered",
            "fapiao receipt check r.json --json   # asks the register for its keys",
        ),
    )
    check.add_argument("file", metavar="FILE", help="the receipt")
    check.add_argument("--keys", metavar="FILE", help="public keys saved by `public-keys -o` (else asks --target)")
    common(check)
    check.set_defaults(handler=_check_receipt, command=check.prog)


def _fetch_keys(options: argparse.Namespace) -> PublicKeys:
    with RegisterKeyClient(options.target, wait_for_ready=False, **client_arguments(options)) as client:
        return client.signing_keys()


def _public_keys(options: argparse.Namespace) -> int:
    try:
        keys = _fetch_keys(options)
    except FapiaoError as error:
        return print_error(error, options)
    if options.output:
        keys.save(options.output)
        print(f"saved {len(keys)} key(s) to {options.output}", file=sys.stderr)
    if options.json or not options.output:
        print(message_json(keys.response()))
    return 0


def _check_receipt(options: argparse.Namespace) -> int:
    try:
        receipt = load_receipt(options.file)
        keys = PublicKeys.load(options.keys) if options.keys else _fetch_keys(options)
    except FapiaoError as error:
        return print_error(error, options)
    except (OSError, ValueError) as error:  # json_format.ParseError is a ValueError
        print(f"fapiao receipt check: {error}", file=sys.stderr)
        return EXIT_BAD_RECEIPT
    try:
        statement = verify_receipt(receipt, keys)
    except SignatureError as error:
        print(f"fapiao receipt check: {Path(options.file)}: {error} ({error.reason})", file=sys.stderr)
        return EXIT_BAD_RECEIPT
    if options.json:
        print(data_json(statement))
    else:
        asked = statement["asked"]
        invoice = f"{asked['invoice_code']}:{asked['invoice_number']}".lstrip(":")
        print(f"valid receipt {statement['receipt_id']} signed by key {statement['key_id']}")
        print(f"  {statement['verify_time']}  {statement['caller']} verified {invoice}: {statement['outcome']}")
        if statement["mismatched_fields"]:
            print(f"  mismatched: {', '.join(statement['mismatched_fields'])}")
        if statement["invoice_state"]:
            print(f"  invoice state: {statement['invoice_state']}")
    return 0
