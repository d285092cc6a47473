"""`fapiao watch`: print the transitions of one invoice, of every invoice of a tax id, or (tax officers) of every
invoice of a region, as they happen; one line each (one JSON object each with --json). The stream is resumed
after a broken connection; the cursor to resume from later is printed (on standard error) when the watch ends."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from ..invoice_client import InvoiceClient
from ..watching import InvoiceWatch
from .json_output import message_json
from .render_lifecycle import event_cells
from .session import invoice_argument, run

# Like timeout(1): the time given ran out before the events asked for arrived.
TIMED_OUT = 124


def _say(options: argparse.Namespace, message: str) -> None:
    print(f"{options.command}: {message}", file=sys.stderr, flush=True)


@dataclass
class _Progress:
    cursor: str  # after the last event printed (or the last heartbeat)
    seen: int = 0
    started: bool = False


def _follow(options: argparse.Namespace, watch: InvoiceWatch, progress: _Progress) -> None:
    """Print events until --count of them, or until the watch ends at --timeout."""
    for response in watch.responses():
        if not progress.started:
            progress.started = True
            _say(options, f"watching from cursor {response.cursor}")
        for event in response.events:
            if options.json:
                print(message_json(event, one_line=True), flush=True)
            else:
                print("  ".join(cell for cell in event_cells(event) if cell), f"(cursor {event.cursor})", flush=True)
            progress.seen += 1
            progress.cursor = event.cursor
            if options.count is not None and progress.seen >= options.count:
                return
        progress.cursor = response.cursor or progress.cursor


def watch(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        if (bool(options.invoice or options.id) + bool(options.tax_id) + bool(options.region)) > 1:
            raise ValueError("watch one invoice (INVOICE or --id), every invoice of --tax-id or of --region: one")
        if options.count is not None and options.count < 1:
            raise ValueError("--count must be 1 or more")
        if options.timeout is not None and options.timeout <= 0:
            raise ValueError("--timeout must be a positive number of seconds")
        invoice = None if options.tax_id or options.region else invoice_argument(options)
        progress = _Progress(options.cursor)
        watch = client.watch_invoices(invoice, tax_id=options.tax_id or "", region_code=options.region or "",
                                      cursor=options.cursor, timeout=options.timeout)  # fmt: skip
        try:
            _follow(options, watch, progress)
        except KeyboardInterrupt:
            _say(options, f"stopped; resume with --cursor {progress.cursor}")
            return 130
        finally:
            watch.close()
        counted = options.count is not None and progress.seen >= options.count
        ended = f"{progress.seen} event(s)" + ("" if counted else f" in {options.timeout:g} s")
        _say(options, f"{ended}; resume with --cursor {progress.cursor}")
        return TIMED_OUT if options.count is not None and not counted else 0

    return run(options, call)
