"""`fapiao verify-batch FILE.csv`: stream every row to BatchVerifyInvoices, write one result row per input row,
and count the outcomes on standard error.

Input columns (a header row naming them, any order, unknown columns ignored): code, number, date (YYYY-MM-DD),
check_code, amount (yuan), total (yuan), type (fplx), qr. A first row naming none of them is data, not a header:
its columns are read in that order (and standard error says so). A row with a qr value is verified by its QR
payload. Rows that cannot even be sent (an unreadable date or amount) get an INVALID_ARGUMENT result of their own.

Exit status 0 when every row is MATCH; 3 (as `verify` on a MISMATCH) when any row is MISMATCH, NOT_FOUND or an
error, unless --exit-zero; a failure of the whole run (the register unreachable, refused credentials) its own.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from rich.console import Console
from rich.progress import Progress

from fapiao.v1 import verification_service_pb2 as pb

from ..errors import FapiaoError
from ..money import yuan_to_fen
from ..requests import verify_request
from ..sync_client import VerificationClient
from .connection import client_arguments
from .failures import print_error
from .json_output import data_json, message_data
from .render import outcome_name, state_name

OUTPUT_COLUMNS = (
    "row", "invoice_code", "invoice_number", "issue_date", "outcome", "state", "mismatched_fields",
    "verification_id", "error_code", "error_reason", "error_message",
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    number: int  # 1-based data row (the header is row 0)
    values: dict[str, str]
    item: pb.VerifyInvoiceRequest | str | None  # None: the row could not be turned into a request
    problem: str = ""


def parse_row(number: int, values: dict[str, str]) -> Row:
    def value(name: str) -> str:
        return (values.get(name) or "").strip()

    if value("qr"):
        return Row(number, values, value("qr"))
    try:
        issue_date = date.fromisoformat(value("date"))
    except ValueError:
        return Row(number, values, None, f"date: {value('date')!r} is not a date YYYY-MM-DD")
    fields: dict[str, object] = {
        "invoice_code": value("code"),
        "invoice_number": value("number"),
        "issue_date": issue_date,
        "invoice_type": int(value("type")) if value("type").isdigit() else 0,
    }
    if value("check_code"):
        fields["check_code"] = value("check_code")
    try:
        if value("amount"):
            fields["amount_fen"] = yuan_to_fen(value("amount"))
        if value("total"):
            fields["total_fen"] = yuan_to_fen(value("total"))
        return Row(number, values, verify_request(**fields))  # type: ignore[arg-type]
    except ValueError as error:
        return Row(number, values, None, str(error))


COLUMNS = ("code", "number", "date", "check_code", "amount", "total", "type", "qr")
# A MISMATCH, NOT_FOUND or error row, as `verify` exits on a MISMATCH.
SOME_NOT_MATCHED = 3


def is_header(cells: list[str]) -> bool:
    """A header names at least one known column; no invoice field ever reads "code", "date" or "qr"."""
    return any(cell.strip().lower() in COLUMNS for cell in cells)


def read_rows(stream: IO[str], *, on_headerless: Any = None) -> list[Row]:
    """The rows of the file; ``on_headerless`` is called when the first row turns out to be data."""
    records = [record for record in csv.reader(stream) if any(cell.strip() for cell in record)]
    if not records:
        raise ValueError("the file is empty; it needs a header row (code,number,date,...) and a row per invoice")
    if is_header(records[0]):
        names, data = [cell.strip().lower() for cell in records[0]], records[1:]
    else:
        names, data = list(COLUMNS), records
        if on_headerless is not None:
            on_headerless()
    return [parse_row(n, {name: value for name, value in zip(names, record, strict=False) if name})
            for n, record in enumerate(data, 1)]  # fmt: skip


@dataclass
class Tally:
    """How the rows came out, for the summary."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, result: pb.BatchVerifyResult | None) -> None:
        if result is None or result.HasField("error"):
            self.counts["errors"] += 1
        else:
            self.counts[outcome_name(result.verification.outcome)] += 1

    def summary(self) -> str:
        total = sum(self.counts.values())
        parts = [f"{self.counts[name]} {name}" for name in ("MATCH", "MISMATCH", "NOT_FOUND")]
        return f"{total} row(s): " + ", ".join(parts) + f", {self.counts['errors']} error(s)"

    def all_matched(self) -> bool:
        return self.counts["MATCH"] == sum(self.counts.values())


def _identity(row: Row) -> tuple[str, str, str]:
    item = row.item
    if isinstance(item, pb.VerifyInvoiceRequest):
        d = item.issue_date
        return item.invoice_code, item.invoice_number, f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    return row.values.get("code", ""), row.values.get("number", ""), row.values.get("date", "")


def csv_record(row: Row, result: pb.BatchVerifyResult | None) -> list[str]:
    code, number, day = _identity(row)
    base = [str(row.number), code, number, day]
    if result is None:
        return [*base, "", "", "", "", "INVALID_ARGUMENT", "INVALID_CSV_ROW", row.problem]
    if result.HasField("error"):
        error = FapiaoError.from_status(result.error)
        detail = "; ".join(f"{v.field}: {v.description}" for v in error.field_violations) or error.message
        return [*base, "", "", "", "", error.code.name, error.reason, detail]
    answer = result.verification
    if answer.HasField("invoice"):
        invoice = answer.invoice
        d = invoice.issue_date
        code, number, day = invoice.invoice_code, invoice.invoice_number, f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
        base = [str(row.number), code, number, day]
    return [
        *base,
        outcome_name(answer.outcome),
        state_name(answer.invoice.state),
        " ".join(answer.mismatched_fields),
        answer.verification_id,
        "",
        "",
        "",
    ]


def json_record(row: Row, result: pb.BatchVerifyResult | None) -> str:
    if result is None:
        body = {"row": row.number, "error": {"code": "INVALID_ARGUMENT", "reason": "INVALID_CSV_ROW",
                                             "message": row.problem}}  # fmt: skip
        return data_json(body, one_line=True)
    return data_json({"row": row.number, "result": message_data(result)}, one_line=True)


def _results(
    client: VerificationClient, rows: list[Row], chunk_size: int
) -> Iterator[tuple[Row, pb.BatchVerifyResult | None]]:
    sendable = [row for row in rows if row.item is not None]
    answers = client.batch_verify((row.item for row in sendable), chunk_size=chunk_size)  # type: ignore[misc]
    position = 0
    for row in rows:
        if row.item is None:
            yield row, None
            continue
        result = next(answers)
        if result.index != position:
            raise RuntimeError(f"result {result.index} arrived where {position} was expected")
        position += 1
        yield row, result
    # Read the stream to its end: its final status reaches us (a failure after the last result is raised), and the
    # register sees the call finish instead of cancelled when the channel closes.
    for extra in answers:
        raise RuntimeError(f"result {extra.index} arrived after the last item")


def run(options: argparse.Namespace) -> int:
    def headerless() -> None:
        print(f"{options.command}: {options.file} has no header row; reading its columns as {','.join(COLUMNS)}",
              file=sys.stderr)  # fmt: skip

    try:
        with open(options.file, newline="", encoding="utf-8-sig") as source:
            rows = read_rows(source, on_headerless=headerless)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as error:
        print(f"fapiao verify-batch: cannot read {options.file}: {error}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        out = (
            sys.stdout
            if options.output == "-"
            else stack.enter_context(open(options.output, "w", newline="", encoding="utf-8"))
        )
        writer = csv.writer(out) if not options.json else None
        if writer is not None:
            writer.writerow(OUTPUT_COLUMNS)
        client = stack.enter_context(
            VerificationClient(options.target, timeout=None, wait_for_ready=False, **client_arguments(options))
        )
        progress = stack.enter_context(Progress(console=Console(stderr=True), transient=True))
        task = progress.add_task("verifying", total=len(rows))
        tally = Tally()
        try:
            for row, result in _results(client, rows, options.chunk_size):
                if writer is not None:
                    writer.writerow(csv_record(row, result))
                else:
                    print(json_record(row, result), file=out)
                tally.add(result)
                progress.advance(task)
        except FapiaoError as error:
            return print_error(error, options)
    print(f"{options.command}: {tally.summary()}", file=sys.stderr)
    return 0 if tally.all_matched() or options.exit_zero else SOME_NOT_MATCHED
