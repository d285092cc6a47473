"""`fapiao watch`: print the transitions of one invoice, of every invoice of a tax id, or (tax officers) of every
invoice of a region, as they happen; one line each (one JSON object each with --json).

A broken connection is retried, pausing longer each time up to 5 s, for as long as it takes (or --give-up-after
seconds), saying so on standard error; a register back after a restart or a deploy picks the watch up where it
was. When the watch ends, however it ends (--count, --timeout, Ctrl-C, an error, giving up), standard error gets
the cursor and the whole command that resumes from it."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

from ..errors import FapiaoError
from ..invoice_client import InvoiceClient
from ..watching import InvoiceWatch
from .failures import print_error
from .json_output import message_json
from .reachability import explain, unreachable
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
    reconnecting: bool = False


def _follow(options: argparse.Namespace, watch: InvoiceWatch, progress: _Progress) -> None:
    """Print events until --count of them, or until the watch ends at --timeout."""
    for response in watch.responses():
        if not progress.started:
            progress.started = True
            _say(options, f"watching from cursor {response.cursor}")
        elif progress.reconnecting:
            _say(options, f"reconnected; going on after cursor {progress.cursor}")
        progress.reconnecting = False
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


def resume_command(options: argparse.Namespace, cursor: str) -> str:
    """The command that goes on from ``cursor``: this one's target, connection and selection, without its stop."""
    words = ["fapiao", "watch"]
    if options.tax_id:
        words += ["--tax-id", options.tax_id]
    elif options.region:
        words += ["--region", options.region]
    elif options.id:
        words += ["--id", options.id]
    else:
        words.append(options.invoice)
    words += ["--cursor", cursor] if cursor else []
    words += ["--target", options.target]
    for flag in ("ca_cert", "client_cert", "client_key"):
        if getattr(options, flag, None):
            words += [f"--{flag.replace('_', '-')}", getattr(options, flag)]
    words += ["--tls"] if options.tls and not options.ca_cert else []
    words += ["--json"] if options.json else []
    return shlex.join(words)


def _resume(options: argparse.Namespace, progress: _Progress) -> str:
    if not progress.cursor:
        return f"nothing was received, so there is no cursor; start again with: {resume_command(options, '')}"
    return f"resume with --cursor {progress.cursor}: {resume_command(options, progress.cursor)}"


def watch(options: argparse.Namespace) -> int:
    def call(client: InvoiceClient) -> int:
        if (bool(options.invoice or options.id) + bool(options.tax_id) + bool(options.region)) > 1:
            raise ValueError("watch one invoice (INVOICE or --id), every invoice of --tax-id or of --region: one")
        if options.count is not None and options.count < 1:
            raise ValueError("--count must be 1 or more")
        if options.timeout is not None and options.timeout <= 0:
            raise ValueError("--timeout must be a positive number of seconds")
        if options.give_up_after is not None and options.give_up_after <= 0:
            raise ValueError("--give-up-after must be a positive number of seconds")
        invoice = None if options.tax_id or options.region else invoice_argument(options)
        progress = _Progress(options.cursor)

        def reconnecting(error: FapiaoError | None, delay: float, attempt: int) -> None:
            progress.reconnecting = True
            if error is None:
                why = "the register ended the stream"
            else:
                why = explain(error, options) if unreachable(error) else f"{error.code.name}: {error.message}"
            bound = f"; giving up after {options.give_up_after:g} s" if options.give_up_after else "; Ctrl-C stops"
            _say(options, f"connection lost ({why}); reconnecting in {delay:.1f} s (attempt {attempt}{bound})")

        watch = client.watch_invoices(invoice, tax_id=options.tax_id or "", region_code=options.region or "",
                                      cursor=options.cursor, timeout=options.timeout, reconnect_attempts=None,
                                      give_up_after=options.give_up_after, on_reconnect=reconnecting)  # fmt: skip
        try:
            _follow(options, watch, progress)
        except KeyboardInterrupt:
            _say(options, f"stopped; {_resume(options, progress)}")
            return 130
        except FapiaoError as error:
            status = print_error(error, options)
            _say(options, f"the watch ended; {_resume(options, progress)}")
            return status
        finally:
            watch.close()
        counted = options.count is not None and progress.seen >= options.count
        ended = f"{progress.seen} event(s)" + ("" if counted else f" in {options.timeout:g} s")
        _say(options, f"{ended}; {_resume(options, progress)}")
        return TIMED_OUT if options.count is not None and not counted else 0

    return run(options, call)
