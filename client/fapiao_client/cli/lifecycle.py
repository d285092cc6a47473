"""The lifecycle commands' arguments: issue, void, certify, report-period, red-letter, invoice, watch. Only
argparse is imported here; each command's module is imported when it runs.

INVOICE is ``CODE:NUMBER`` for a legacy invoice (10 or 12-digit code, 8-digit number) or ``NUMBER`` alone for
a 20-digit 数电 number; ``--id ID`` names it by its register id instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import uuid
from collections.abc import Callable
from typing import Any

from .examples import examples

PARTIES = ("seller", "buyer")
REASONS = "1 issued-in-error, 2 goods-returned, 3 service-terminated, 4 sales-discount"


def _handler(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    def run(options: argparse.Namespace) -> int:
        result: int = getattr(importlib.import_module(f"{__package__}.{module}"), function)(options)
        return result

    return run


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group run without its subcommand: its own help, and exit status 2."""

    def run(_options: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return run


def _request_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID") from None


def _invoice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("invoice", nargs="?", metavar="INVOICE", help="CODE:NUMBER, or NUMBER for a 数电 invoice")
    parser.add_argument("--id", metavar="ID", help="the invoice's register id, instead of INVOICE")


def _change(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-id",
        type=_request_id,
        metavar="UUID",
        help="idempotency key: the same id again returns the first result instead of changing twice",
    )


def _party(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--as", dest="party", required=True, choices=PARTIES, help=help_text)


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the lifecycle commands; ``common`` adds --target, --caller and --json to each."""

    def command(parent: Any, name: str, module: str, function: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, **kwargs)
        common(parser)
        parser.set_defaults(handler=_handler(module, function), command=parser.prog)
        return parser

    issue = command(
        commands, "issue", "invoices", "issue",
        help="issue the invoices described by a JSON file (开具)",
        description="Issue the invoice a JSON file describes, or several: a JSON array of them, or one object a "
        "line. Every draft is checked before anything is sent; one mistake anywhere and nothing is issued.",
        **examples(
            "fapiao issue --file invoice.json",
            "fapiao issue --file - --json < invoice.json   # from standard input",
            "fapiao issue --file invoice.json --request-id 3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b   # safe to repeat",
        ),
    )  # fmt: skip
    issue.add_argument("--file", "-f", required=True, metavar="FILE",
                       help="the invoice(s) as JSON: an object, an array, or one a line ('-': stdin)")  # fmt: skip
    _change(issue)

    void = command(
        commands, "void", "invoices", "void", help="void a paper invoice in its month of issue (作废)",
        **examples('fapiao void 1100269100:00000042 --reason "wrong buyer"', "fapiao void --id 1234"),
    )  # fmt: skip
    _invoice(void)
    void.add_argument("--reason", default="", help="why, for the history")
    _change(void)

    certify = command(commands, "certify", "invoices", "certify", help="record the buyer's certification (认证/勾选)",
                      **examples("fapiao certify 26112000000000000001", "fapiao certify --id 1234 --json"))  # fmt: skip
    _invoice(certify)
    _change(certify)

    report = command(
        commands, "report-period", "invoices", "report_period", help="record a seller's report of a month (申报)",
        **examples("fapiao report-period 91110108MA01ABCD0B 2026-11"),
    )  # fmt: skip
    report.add_argument("tax_id", metavar="TAX_ID", help="the seller's unified social credit code")
    report.add_argument("period", metavar="YYYY-MM", help="the month reported")
    _change(report)

    _add_invoice_commands(command, commands)
    _add_red_letter_commands(command, commands)

    watch = command(
        commands, "watch", "watch", "watch",
        help="print an invoice's (or a tax id's) transitions as they happen",
        description="Print each transition as it happens. A lost connection is retried (with a growing pause, at "
        "most 5 s) until the register answers again, Ctrl-C, or --give-up-after; when the watch ends it prints "
        "the cursor and the command that resumes from it.",
        **examples(
            "fapiao watch --tax-id 91110108MA01ABCD0B --json",
            "fapiao watch 1100269100:00000042 --count 1 --timeout 60",
            "fapiao watch --region 1100 --give-up-after 300   # tax officers; stop after 5 minutes unreachable",
            "fapiao watch --tax-id 91110108MA01ABCD0B --cursor MTIzNDU2Ljc4OQ   # resume where a watch ended",
        ),
    )  # fmt: skip
    _invoice(watch)
    watch.add_argument("--tax-id", help="watch every invoice this tax id sells or buys, instead of one invoice")
    watch.add_argument("--region", metavar="CODE", help="(tax officers) watch every invoice of this 4-digit region")
    watch.add_argument("--cursor", default="", help="resume after this cursor (printed by an earlier watch)")
    watch.add_argument("--count", type=int, metavar="N", help="stop after N events")
    watch.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this long")
    watch.add_argument("--give-up-after", type=float, metavar="SECONDS",
                       help="stop when the register has been unreachable this long (default: keep trying)")  # fmt: skip


def _add_invoice_commands(command: Callable[..., argparse.ArgumentParser], commands: Any) -> None:
    group = commands.add_parser(
        "invoice", help="read invoices: get, list, events, actions",
        **examples("fapiao invoice get 26112000000000000001", "fapiao invoice list --seller 91110108MA01ABCD0B"),
    )  # fmt: skip
    group.set_defaults(handler=_usage(group))
    invoice = group.add_subparsers(title="invoice commands", metavar="COMMAND")
    get = command(
        invoice, "get", "invoices", "get", help="one invoice",
        **examples("fapiao invoice get 26112000000000000001", "fapiao invoice get --id 1234 --view basic"),
    )  # fmt: skip
    _invoice(get)
    get.add_argument("--view", choices=("basic", "full"), default="full", help="how much of it (default full)")

    listing = command(
        invoice, "list", "invoices", "list_invoices", help="a seller's, buyer's or region's invoices, newest first",
        **examples(
            "fapiao invoice list --seller 91110108MA01ABCD0B --state voided --limit 0",
            "fapiao invoice list --buyer 91310101MA1FPX1234 --from 2026-10-01 --to 2026-10-31 --json",
            "fapiao invoice list --region 1100 --type 32   # tax officers",
        ),
    )  # fmt: skip
    listing.add_argument("--seller", metavar="TAX_ID", default="", help="issued by this tax id")
    listing.add_argument("--buyer", metavar="TAX_ID", default="", help="bought by this tax id")
    listing.add_argument("--region", metavar="CODE", default="", help="of this 4-digit region, e.g. 1100")
    listing.add_argument("--state", default="", help="issued, voided, partially-reversed or fully-reversed")
    listing.add_argument("--type", default="", metavar="FPLX", help="invoice type, e.g. 01 or 32")
    listing.add_argument("--from", dest="start_date", metavar="YYYY-MM-DD", help="issued on or after")
    listing.add_argument("--to", dest="end_date", metavar="YYYY-MM-DD", help="issued on or before")
    _limit(listing)

    events = command(invoice, "events", "invoices", "events", help="an invoice's history, oldest first",
                     **examples("fapiao invoice events 1100269100:00000042 --json"))  # fmt: skip
    _invoice(events)
    actions = command(invoice, "actions", "invoices", "actions", help="what the invoice allows now, and why not",
                      **examples("fapiao invoice actions 1100269100:00000042"))  # fmt: skip
    _invoice(actions)


def _limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="print at most N (default 50; 0: all)")


def _add_red_letter_commands(command: Callable[..., argparse.ArgumentParser], commands: Any) -> None:
    group = commands.add_parser(
        "red-letter", help="red-letter confirmation forms (红字确认单) and red invoices",
        **examples(
            "fapiao red-letter create 26112000000000000001 --reason goods-returned --as buyer --line 1:100.00",
            "fapiao red-letter confirm FORM_ID --as seller",
            "fapiao red-letter issue FORM_ID",
        ),
    )  # fmt: skip
    group.set_defaults(handler=_usage(group))
    forms = group.add_subparsers(title="red-letter commands", metavar="COMMAND")

    create = command(
        forms, "create", "red_letter", "create", help="enter a form against an invoice",
        **examples(
            "fapiao red-letter create 26112000000000000001 --reason goods-returned --as buyer --line 1:100.00 --line 2",
            "fapiao red-letter create 1100269100:00000042 --reason issued-in-error --as seller   # everything left",
        ),
    )  # fmt: skip
    _invoice(create)
    create.add_argument("--reason", required=True, help=f"why: {REASONS} (number or name)")
    _party(create, "who enters the form; the other party confirms it unless none is needed")
    create.add_argument(
        "--line",
        action="append",
        default=[],
        metavar="N[:YUAN]",
        help="reverse line N, wholly or by YUAN excluding tax (repeatable; none: everything left)",
    )
    create.add_argument("--remarks", default="", help="free text kept with the form")
    _change(create)

    for name, function, help_text, who in (
        ("confirm", "confirm", "the awaited party confirms a form (02/03 -> 04)", "the party the form awaits"),
        ("reject", "reject", "the awaited party refuses a form (02 -> 05, 03 -> 06)", "the party the form awaits"),
        ("withdraw", "withdraw", "the initiator withdraws a form (-> 08/09)", "the form's initiator"),
    ):
        example = f"fapiao red-letter {name} 123456 --as {'buyer' if name == 'withdraw' else 'seller'}"
        answer = command(forms, name, "red_letter", function, help=help_text, **examples(example))
        answer.add_argument("form_id", metavar="FORM_ID")
        _party(answer, who)
        if name != "confirm":
            answer.add_argument("--reason", default="", help="why, for the history")
        _change(answer)

    issue = command(forms, "issue", "red_letter", "issue", help="issue the red invoice of a form in 01 or 04",
                    **examples("fapiao red-letter issue 123456 --json"))  # fmt: skip
    issue.add_argument("form_id", metavar="FORM_ID")
    _change(issue)

    get = command(forms, "get", "red_letter", "get", help="one form", **examples("fapiao red-letter get 123456"))
    get.add_argument("form_id", metavar="FORM_ID")

    listing = command(
        forms, "list", "red_letter", "list_forms", help="forms of a seller, buyer or invoice",
        **examples(
            "fapiao red-letter list --seller 91110108MA01ABCD0B --state awaiting-buyer",
            "fapiao red-letter list --invoice 26112000000000000001 --json",
        ),
    )  # fmt: skip
    listing.add_argument("--seller", metavar="TAX_ID", default="", help="forms of invoices this tax id issued")
    listing.add_argument("--buyer", metavar="TAX_ID", default="", help="forms of invoices this tax id bought")
    listing.add_argument("--invoice", metavar="INVOICE", help="forms against this invoice (CODE:NUMBER or NUMBER)")
    listing.add_argument("--invoice-id", metavar="ID", help="forms against the invoice with this register id")
    listing.add_argument("--state", default="", help="01-09 or a name, e.g. awaiting-buyer")
    _limit(listing)
