"""The `fapiao` command line: client commands (verify, verify-batch; the invoice lifecycle: issue, void,
certify, report-period, red-letter, invoice, watch; reporting: stats; signatures: public-keys, receipt check; audit;
sessions: login, logout, whoami; admin) and, when the server is installed, the server's (serve, migrate, seed,
bootstrap-admin, signing-key, keys).

Exit status: 0 success (verify: MATCH; verify-batch: every row MATCH), 2 invalid input, 3 MISMATCH (verify;
verify-batch: some row is not MATCH, unless --exit-zero), 4 not found (verify: NOT_FOUND; the other commands: no
such invoice or form), 5 refused by a lifecycle rule (FAILED_PRECONDITION, e.g. VOID_PERIOD_ENDED), 6 refused by a
quota (RESOURCE_EXHAUSTED: the caller's rate, or 5 verifications of one invoice today; the message says when to
retry), 7 not authenticated or not allowed (UNAUTHENTICATED, PERMISSION_DENIED), 8 something signed or chained does
not check out (`receipt check`: an altered, unreadable or foreign receipt; `audit verify`: the audit chain is
broken), 9 the register could not be reached (nothing listens there, TLS on one side only, an untrusted
certificate: the message says which), 124 `watch --timeout` ended before `--count` events, 130 interrupted
(Ctrl-C), 141 standard output was closed early (`fapiao ... | head`), 1 any other failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from ..channel import DEFAULT_PORT, DEFAULT_TARGET, with_default_port
from ..credentials import CredentialsError
from .access import add_commands as add_access_commands
from .audit import add_commands as add_audit_commands
from .examples import examples
from .lifecycle import add_commands as add_lifecycle_commands
from .signing import add_commands as add_signing_commands
from .stats import add_commands as add_stats_commands
from .tracing import traced


def _target(text: str) -> str:
    try:
        return with_default_port(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        type=_target,
        default=os.environ.get("FAPIAO_TARGET", DEFAULT_TARGET),
        metavar="HOST[:PORT]",
        help=f"the register's address (FAPIAO_TARGET, default {DEFAULT_TARGET}); without a port, {DEFAULT_PORT}, "
        "the port `fapiao serve` listens on; IPv6 in brackets: [::1]:50051",
    )
    parser.add_argument(
        "--ca-cert",
        default=os.environ.get("FAPIAO_CA_CERT"),
        metavar="FILE",
        help="connect with TLS, trusting this CA for the register's certificate (FAPIAO_CA_CERT)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=os.environ.get("FAPIAO_TLS", "").lower() in ("1", "true", "yes"),
        help="connect with TLS, trusting the usual public CAs (FAPIAO_TLS=1); --ca-cert implies TLS",
    )
    parser.add_argument(
        "--client-cert",
        default=os.environ.get("FAPIAO_CLIENT_CERT"),
        metavar="FILE",
        help="mutual TLS: present this certificate (FAPIAO_CLIENT_CERT; with --client-key)",
    )
    parser.add_argument("--client-key", default=os.environ.get("FAPIAO_CLIENT_KEY"), metavar="FILE",
                        help="the client certificate's private key (FAPIAO_CLIENT_KEY)")  # fmt: skip
    parser.add_argument(
        "--json", action="store_true", help="print the answer as JSON (protobuf's mapping, proto field names)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fapiao", description="Fapiao: China's invoice register over gRPC.", epilog=__doc__.split("\n\n")[1]
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    verify = commands.add_parser(
        "verify",
        help="verify one invoice (发票查验)",
        **examples(
            "fapiao verify --code 011002305111 --number 00001234 --date 2026-10-18 --check-code 380258",
            "fapiao verify --number 25312000000000000001 --date 2025-03-02 --total 7606.31 --json   # 数电",
            "fapiao verify --qr '01,10,011002305111,00001234,64.9,20261018,85342965681116380258,BE2D,'",
            "fapiao verify --code 011001605111 --number 80100798 --date 2026-10-18 --check-code 380258 "
            "--receipt r.json",
        ),
    )
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
    verify.set_defaults(handler=_run_verify, command=verify.prog)

    batch = commands.add_parser(
        "verify-batch",
        help="verify every invoice in a CSV file, results to CSV",
        description="Verify every row of a CSV file; one result row per input row, a summary on standard error. "
        "Exit status 0 when every row is MATCH, 3 when any is MISMATCH, NOT_FOUND or an error (--exit-zero: 0).",
        **examples(
            "fapiao verify-batch invoices.csv --output results.csv",
            "fapiao verify-batch invoices.csv --json --exit-zero   # a JSON object per row; exit 0 whatever the rows",
        ),
    )
    batch.add_argument(
        "file",
        help="CSV, best with a header naming its columns: code,number,date,check_code,amount,total,type,qr (any "
        "order); without one, the columns are read in that order",
    )
    batch.add_argument("--output", "-o", default="-", help="where to write results (default: standard output)")
    batch.add_argument("--chunk-size", type=int, default=500, help="items per stream message (1-1000)")
    batch.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when rows are not MATCH (failures of the run still fail)"
    )
    _common(batch)
    batch.set_defaults(handler=_run_batch, command=batch.prog)

    add_lifecycle_commands(commands, _common)
    add_stats_commands(commands, _common)
    add_signing_commands(commands, _common)
    add_audit_commands(commands, _common)
    add_access_commands(commands, _common)

    add_plugin_commands(commands)
    return parser


# Commands other packages add to `fapiao` (the server's serve / migrate / seed / ..., when it is installed), found
# through this packaging entry-point group, so the client never imports the server by name.
COMMANDS_ENTRY_POINTS = "fapiao.commands"


def add_plugin_commands(commands: Any) -> None:
    """Register the commands of every ``fapiao.commands`` entry point: a callable taking the subparsers. One whose
    package cannot be imported here (a client-only install without the server's dependencies) is left out."""
    for entry_point in sorted(entry_points(group=COMMANDS_ENTRY_POINTS), key=lambda point: point.name):
        try:
            add_commands = entry_point.load()
        except ImportError:
            continue
        add_commands(commands)


def _run_verify(options: argparse.Namespace) -> int:
    from .verify import run

    return run(options)


def _run_batch(options: argparse.Namespace) -> int:
    from .batch import run

    return run(options)


# Like a shell reports a command killed by SIGPIPE (128 + 13): whoever read the output stopped reading.
EXIT_PIPE_CLOSED = 141


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
            status = int(options.handler(options))
            sys.stdout.flush()  # a reader that went away is found here, not in the interpreter's exit
            return status
    except BrokenPipeError:
        # `fapiao ... | head`: the reader has what it wanted. Python's advice (the signal module's note on SIGPIPE):
        # point standard output at devnull so the interpreter's final flush does not fail again and print a trace.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    except ImportError as error:
        print(f"fapiao: {error.name or error} is missing; install 'fapiao[cli]' or 'fapiao[server]'", file=sys.stderr)
        return 1
    except (CredentialsError, ValueError) as error:  # unusable credentials file or TLS files: fix and rerun
        print(f"fapiao: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
