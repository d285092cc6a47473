"""The `fapiao` command line: client commands (verify, verify-batch; the invoice lifecycle: issue, void,
certify, report-period, red-letter, invoice, watch; reporting: stats; signatures: public-keys, receipt check; audit;
sessions: login, logout, whoami; admin) and, when the server is installed, the server's (serve, migrate, seed,
bootstrap-admin, signing-key, keys).

Exit status: 0 success (verify: MATCH), 2 invalid input, 3 MISMATCH (verify), 4 not found (verify: NOT_FOUND;
the other commands: no such invoice or form), 5 refused by a lifecycle rule (FAILED_PRECONDITION, e.g.
VOID_PERIOD_ENDED), 6 refused by a quota (RESOURCE_EXHAUSTED: the caller's rate, or 5 verifications of one
invoice today; the message says when to retry), 7 not authenticated or not allowed (UNAUTHENTICATED,
PERMISSION_DENIED), 8 something signed or chained does not check out (`receipt check`: an altered, unreadable or
foreign receipt; `audit verify`: the audit chain is broken), 124 `watch --timeout` ended before `--count`
events, 1 any other failure (e.g. the register is unreachable).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..channel import DEFAULT_TARGET
from ..credentials import CredentialsError
from .access import add_commands as add_access_commands
from .audit import add_commands as add_audit_commands
from .lifecycle import add_commands as add_lifecycle_commands
from .signing import add_commands as add_signing_commands
from .stats import add_commands as add_stats_commands
from .tracing import traced


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        default=os.environ.get("FAPIAO_TARGET", DEFAULT_TARGET),
        metavar="HOST:PORT",
        help=f"the register's address (FAPIAO_TARGET, default {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--ca-cert",
        default=os.environ.get("FAPIAO_CA_CERT"),
        metavar="FILE",
        help="connect with TLS, trusting this CA for the register's certificate (FAPIAO_CA_CERT)",
    )
    parser.add_argument(
        "--client-cert",
        default=os.environ.get("FAPIAO_CLIENT_CERT"),
        metavar="FILE",
        help="mutual TLS: present this certificate (FAPIAO_CLIENT_CERT; with --client-key)",
    )
    parser.add_argument("--client-key", default=os.environ.get("FAPIAO_CLIENT_KEY"), metavar="FILE",
                        help="the client certificate's private key (FAPIAO_CLIENT_KEY)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the response in protobuf's JSON mapping")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fapiao", description="Fapiao: China's invoice register over gRPC.", epilog=__doc__.split("\n\n")[1]
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    verify = commands.add_parser("verify", help="verify one invoice (发票查验)")
    verify.add_argument("--code", default="", help="invoice code (发票代码), 10 or 12 digits; omit for 数电")
    verify.add_argument("--number", help="invoice number: 8 digits, or the 20-digit 数电 number")
    verify.add_argument("--date", help="issue date YYYY-MM-DD")
    proof = verify.add_mutually_exclusive_group()
    proof.add_argument("--check-code", help="last 6 digits of the check code (general invoices 04/10/11/14)")
    proof.add_argument("--amount", metavar="YUAN", help="amount excluding tax (01/03/08)")
    proof.add_argument("--total", metavar="YUAN", help="total: 02/15 total, 数电 价税合计 (31/32)")
    verify.add_argument("--type", type=int, default=0, metavar="FPLX", help="invoice type, e.g. 31 or 32 for 数电")
    verify.add_argument("--qr", metavar="PAYLOAD", help="verify by the QR payload instead of the fields")
    verify.add_argument("--receipt", metavar="FILE", help="ask for a signed receipt and save it to FILE")
    _common(verify)
    verify.set_defaults(handler=_run_verify)

    batch = commands.add_parser("verify-batch", help="verify every invoice in a CSV file, results to CSV")
    batch.add_argument("file", help="CSV with a header: code,number,date,check_code,amount,total,type,qr")
    batch.add_argument("--output", "-o", default="-", help="where to write results (default: standard output)")
    batch.add_argument("--chunk-size", type=int, default=500, help="items per stream message (1-1000)")
    _common(batch)
    batch.set_defaults(handler=_run_batch)

    add_lifecycle_commands(commands, _common)
    add_stats_commands(commands, _common)
    add_signing_commands(commands, _common)
    add_audit_commands(commands, _common)
    add_access_commands(commands, _common)

    try:
        from fapiao_server.cli import add_commands
    except ImportError:  # a client-only install: no serve / migrate / seed
        pass
    else:
        add_commands(commands)
    return parser


def _run_verify(options: argparse.Namespace) -> int:
    from .verify import run

    return run(options)


def _run_batch(options: argparse.Namespace) -> int:
    from .batch import run

    return run(options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if not hasattr(options, "handler"):
        parser.print_help()
        return 2
    try:
        if not options.handler.__module__.startswith("fapiao_client."):
            return int(options.handler(options))  # the server's commands trace themselves (FAPIAO_OTEL_EXPORTER)
        with traced(sys.argv[1] if argv is None else argv[0]):
            return int(options.handler(options))
    except ImportError as error:
        print(f"fapiao: {error.name or error} is missing; install 'fapiao[cli]' or 'fapiao[server]'", file=sys.stderr)
        return 1
    except (CredentialsError, ValueError) as error:  # unusable credentials file or TLS files: fix and rerun
        print(f"fapiao: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
