"""The invoices a load test verifies: a random sample of the register's database (FAPIAO_DATABASE_URL, or the
embedded default `fapiao serve` uses without it), each asked the way the national platform asks its type
(invoice_sample.sql draws them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from psycopg.rows import class_row

from fapiao.v1 import verification_service_pb2 as pb
from fapiao_client import verify_request
from fapiao_server.domain.invoice_types import InvoiceType, Proof

SAMPLE_QUERY = Path(__file__).with_name("invoice_sample.sql")


@dataclass(frozen=True, slots=True)
class SampledInvoice:
    """An invoice the register holds, with what a caller would type in to verify it."""

    invoice_type: int
    invoice_code: str
    invoice_number: str
    issue_date: date
    check_code: str
    amount_fen: int
    total_fen: int
    qr_payload: str
    # A number of the same shape held by no invoice under this code; '' when none was found.
    absent_number: str

    def proof(self) -> dict[str, str | int]:
        """The one type-specific field, as keyword arguments for fapiao_client.verify_request."""
        proof = InvoiceType(self.invoice_type).proof  # the register's own rule (docs/domain.md section 2)
        values = {Proof.CHECK_CODE: self.check_code[-6:], Proof.AMOUNT: self.amount_fen, Proof.TOTAL: self.total_fen}
        return {proof.value: values[proof]}

    def verify_request(
        self,
        *,
        invoice_number: str = "",
        issue_date: date | None = None,
        proof: dict[str, str | int] | None = None,
    ) -> pb.VerifyInvoiceRequest:
        """The request that verifies this invoice; a field given here replaces the invoice's own, to ask about
        an invoice that is not there or to ask wrongly."""
        return verify_request(
            invoice_code=self.invoice_code,
            invoice_number=invoice_number or self.invoice_number,
            issue_date=issue_date or self.issue_date,
            **(self.proof() if proof is None else proof),  # type: ignore[arg-type]
        )


def load_sample(database_url: str, size: int, *, window_years: int) -> list[SampledInvoice]:
    """Up to ``size`` invoices, in random order, all inside the verification window."""
    sql = SAMPLE_QUERY.read_text(encoding="utf-8")
    with psycopg.connect(database_url, row_factory=class_row(SampledInvoice)) as conn:
        return conn.execute(sql, {"limit": size, "window_years": window_years}).fetchall()  # type: ignore[arg-type]


@contextmanager
def register_database(database_url: str) -> Iterator[str]:
    """The URL of the register's database while the block runs: ``database_url`` when set, else the embedded
    PostgreSQL that `fapiao serve`, `fapiao seed` and `fapiao bootstrap-admin` use with no FAPIAO_DATABASE_URL
    (under FAPIAO_DATA_DIR), joined the way they join it, so a load test of the embedded default needs no URL."""
    if database_url:
        yield database_url
        return
    from fapiao_server.config import Settings
    from fapiao_server.entrypoints.supervisor import resolve_database

    settings = Settings()
    if not (settings.data_dir / "pgdata").is_dir():
        # Starting an embedded PostgreSQL here would make an empty register nobody seeded.
        raise SystemExit(
            f"loadtests: FAPIAO_DATABASE_URL is not set and there is no embedded register in {settings.data_dir}; "
            "run `fapiao seed` first (it makes one), or set FAPIAO_DATABASE_URL to the register's PostgreSQL"
        )
    with ExitStack() as stack:
        url, _ = resolve_database(settings, stack)  # pgserver leaves the server up while `fapiao serve` uses it
        yield url
