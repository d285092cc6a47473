"""`fapiao audit list | verify`: read the register's audit log and check its hash chain.

``verify`` exits 0 when the chain is intact and 8 when it is broken, naming the first broken event; keep the
head hash it prints somewhere else, so a later check can show the chain was not rewritten from the start. The
client and rich are imported when a command runs, not when the CLI starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .examples import examples
from .lifecycle import _usage

# The chain does not verify (see the package doc for the other statuses).
BROKEN_CHAIN = 8
BEIJING = timezone(timedelta(hours=8))
OUTCOMES = ("ok", "denied", "unauthenticated", "failed")


def _instant(value: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is Beijing time, like every time the CLI prints."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date or time (YYYY-MM-DD[THH:MM[:SS]][+08:00])") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BEIJING)


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `audit list` and `audit verify`; ``common`` adds --target, the TLS options and --json to each."""
    group = commands.add_parser(
        "audit",
        help="the audit log: list events, verify the hash chain",
        **examples("fapiao audit list --outcome denied --since 2026-11-01", "fapiao audit verify"),
    )
    group.set_defaults(handler=_usage(group))
    audit = group.add_subparsers(title="audit commands", metavar="COMMAND")

    listing = audit.add_parser(
        "list",
        help="audit events, newest first",
        **examples(
            "fapiao audit list --actor acme --since 2026-11-01 --until 2026-11-02",
            "fapiao audit list --action /fapiao.v1.InvoiceService/VoidInvoice --limit 0 --json",
        ),
    )
    common(listing)
    listing.add_argument("--actor", default="", help="only this principal's events")
    listing.add_argument("--action", default="", help="only this action, e.g. /fapiao.v1.InvoiceService/VoidInvoice")
    listing.add_argument("--outcome", choices=OUTCOMES, help="only events with this outcome")
    listing.add_argument("--since", type=_instant, metavar="TIME", help="at or after (ISO 8601; Beijing time)")
    listing.add_argument("--until", type=_instant, metavar="TIME", help="before (ISO 8601; Beijing time)")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="print at most N (default 50; 0: all)")
    listing.set_defaults(handler=list_events, command=listing.prog)

    verify = audit.add_parser(
        "verify",
        help="check every row of the hash chain; exit 8 naming the first broken one",
        **examples("fapiao audit verify   # as an AUDITOR; keep the head hash it prints"),
    )
    common(verify)
    verify.set_defaults(handler=verify_chain, command=verify.prog)


def list_events(options: argparse.Namespace) -> int:
    from ..audit_client import AuditClient
    from .render_audit import events_table
    from .session import page_size, run, show_many

    def call(client: AuditClient) -> int:
        events = client.list_audit_events(
            actor=options.actor,
            action=options.action,
            outcome=options.outcome or 0,
            start_time=options.since,
            end_time=options.until,
            page_size=page_size(options),
        )
        return show_many(options, events, events_table, "audit events")

    return run(options, call, AuditClient)


def verify_chain(options: argparse.Namespace) -> int:
    from ..audit_client import AuditClient
    from .render_audit import print_check
    from .session import run, show

    def call(client: AuditClient) -> int:
        check = client.verify_audit_chain()
        show(options, check, lambda console: print_check(check, console))
        return 0 if check.intact else BROKEN_CHAIN

    return run(options, call, AuditClient)
