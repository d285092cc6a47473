"""What every lifecycle command does around its calls: read the invoice it names, open a client, print the answer
as JSON or for people, and turn bad input and refusals into messages and exit codes (see the package doc)."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console

from fapiao.v1 import invoice_service_pb2 as pb

from ..calls import BlockingCalls
from ..drafts import DraftError
from ..errors import FapiaoError
from ..invoice_client import InvoiceClient
from ..requests import SELECTOR_SYNTAX, invoice_selector, new_request_id
from .connection import client_arguments
from .failures import print_error
from .json_output import message_json

# After these the register may or may not have made the change; the same request id tells.
UNCERTAIN = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN", "INTERNAL", "ABORTED"})


def invoice_argument(
    options: argparse.Namespace, text: str | None = None, id_: str | None = None
) -> pb.InvoiceSelector:
    """The invoice the command names: INVOICE (CODE:NUMBER, or a 数电 NUMBER) or --id, exactly one of them."""
    text = options.invoice if text is None else text
    id_ = options.id if id_ is None else id_
    if text and id_:
        raise ValueError("name the invoice by INVOICE or by --id, not both")
    if id_:
        if not (id_.isascii() and id_.isdigit()):
            raise ValueError(f"--id: {id_!r} is not a register id (digits)")
        return pb.InvoiceSelector(id=id_)
    if not text:
        raise ValueError(f"name the invoice: {SELECTOR_SYNTAX}, or --id ID")
    return invoice_selector(text)


def change_id(options: argparse.Namespace, fallback: str = "") -> str:
    """This run's request id: --request-id, else ``fallback``, else a fresh one; kept to be printed if the
    outcome of the change is unknown."""
    options.request_id = options.request_id or fallback or new_request_id()
    return str(options.request_id)


def run(
    options: argparse.Namespace, call: Callable[[Any], int], client_class: type[BlockingCalls] = InvoiceClient
) -> int:
    """Make the command's calls on a ``client_class`` client; bad input found here is exit status 2, refusals their
    own status."""
    try:
        with client_class(options.target, wait_for_ready=False, **client_arguments(options)) as client:
            return call(client)
    except DraftError as error:
        lines = "".join(f"\n  {v.field}: {v.description}" for v in error.violations)
        print(f"{options.command}: nothing was sent; fix every mistake below first:{lines}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"{options.command}: {error}", file=sys.stderr)
        return 2
    except FapiaoError as error:
        status = print_error(error, options)
        request_id = getattr(options, "request_id", None)
        if request_id and error.code.name in UNCERTAIN:
            print(
                f"{options.command}: the change may or may not have been made; run the command again with "
                f"--request-id {request_id} to get its result without making it twice",
                file=sys.stderr,
            )
        return status


# Piped output is read by people later (or by grep): wide enough that no number is cut or folded.
PIPED_WIDTH = 240


def terminal() -> Console:
    """Standard output for people: the terminal's width, or a wide page when piped."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)


def show(options: argparse.Namespace, message: Any, human: Callable[[Console], None]) -> int:
    """Print one answer: its JSON with --json, else ``human`` on the terminal."""
    if options.json:
        print(message_json(message))
    else:
        human(terminal())
    return 0


def show_many(options: argparse.Namespace, items: Iterable[Any], table: Callable[[list[Any]], Any], noun: str) -> int:
    """Print up to --limit items: one JSON object a line with --json, else a table; say when there are more."""
    limit = options.limit if options.limit > 0 else None
    iterator: Iterator[Any] = iter(items)
    shown = list(itertools.islice(iterator, limit))
    more = limit is not None and next(iterator, None) is not None
    if options.json:
        for item in shown:
            print(message_json(item, one_line=True))
    else:
        console = terminal()
        console.print(table(shown) if shown else f"no {noun}")
    if more:
        print(f"{options.command}: showing the first {limit} {noun}; --limit 0 shows all", file=sys.stderr)
    return 0


def page_size(options: argparse.Namespace) -> int:
    """Ask for pages no larger than what will be shown (+1 to learn whether there is more); the register caps
    pages at 1,000."""
    return min(options.limit + 1, 1000) if options.limit > 0 else 0
