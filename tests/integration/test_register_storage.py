"""The seeded register and reading it back: identifiers valid, numbers dense and unique, ledger consistent."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row

from fapiao_server.domain.identifiers import parse_digital_number, parse_invoice_code
from fapiao_server.domain.invoice import InvoiceKey, InvoiceState
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.qr import parse_qr_payload
from fapiao_server.storage.invoices import PostgresInvoices
from tests.conftest import SEEDED_INVOICES, Register
from tests.support.keys import keyring_of

TODAY = datetime.now(UTC).date()


def _rows(url: str, sql: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def test_seed_covers_every_type_with_valid_identifiers(database_url: str) -> None:
    # Other tests issue invoices into the same register; the seeded ones are those the seed's history issued.
    rows = _rows(
        database_url,
        "SELECT i.* FROM invoices i JOIN invoice_events e ON e.invoice_id = i.id AND e.event_type = 1"
        " WHERE e.actor = 'seed'",
    )
    assert len(rows) == SEEDED_INVOICES
    assert {row["invoice_type"] for row in rows} == {t.value for t in InvoiceType}
    for row in rows:
        kind = InvoiceType(row["invoice_type"])
        if kind.digital:
            assert row["invoice_code"] == ""
            parse_digital_number(row["invoice_number"], TODAY)
        else:
            assert parse_invoice_code(row["invoice_code"], TODAY).invoice_type is kind
        qr = parse_qr_payload(row["qr_payload"])
        assert (qr.invoice_type, qr.invoice_code, qr.invoice_number, qr.issue_date) == (
            kind,
            row["invoice_code"],
            row["invoice_number"],
            row["issue_date"],
        )


def test_numbers_are_unique_and_dense_per_prefix(database_url: str) -> None:
    by_prefix: dict[str, list[int]] = defaultdict(list)
    for row in _rows(database_url, "SELECT invoice_code, invoice_number FROM invoices"):
        number = row["invoice_number"]
        prefix = row["invoice_code"] or number[:5]
        by_prefix[prefix].append(int(number if row["invoice_code"] else number[5:]))
    for prefix, numbers in by_prefix.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), prefix


def test_line_sums_and_reversals_are_consistent(database_url: str) -> None:
    mismatched = _rows(
        database_url,
        """SELECT i.id FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
           GROUP BY i.id HAVING sum(l.amount_fen) <> min(i.amount_fen) OR sum(l.tax_fen) <> min(i.tax_fen)""",
    )
    assert mismatched == []
    ledger = _rows(
        database_url,
        """SELECT o.id, o.state, o.amount_fen, o.reversed_amount_fen, -sum(r.amount_fen) AS red_total
           FROM invoices o JOIN invoices r ON r.original_invoice_id = o.id GROUP BY o.id""",
    )
    assert ledger, "the seed includes red-letter invoices"
    for row in ledger:
        assert row["reversed_amount_fen"] == row["red_total"] <= row["amount_fen"]
        expected = (
            InvoiceState.FULLY_REVERSED if row["red_total"] == row["amount_fen"] else InvoiceState.PARTIALLY_REVERSED
        )
        assert row["state"] == expected


def test_database_refuses_reversing_more_than_the_amount(database_url: str, register: Register) -> None:
    sample = register.sample("state = 1 AND original_invoice_id IS NULL AND amount_fen > 0")
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE invoices SET reversed_amount_fen = amount_fen + 1 WHERE id = %s", (sample.id,))


async def test_reading_back_a_red_letter_pair(pool, register: Register) -> None:  # type: ignore[no-untyped-def]
    red = register.sample("original_invoice_id IS NOT NULL")
    original = register.sample("id = (SELECT original_invoice_id FROM invoices WHERE id = %(red)s)", {"red": red.id})
    repository = PostgresInvoices(pool, keyring_of(pool))
    keys = [
        InvoiceKey(red.invoice_code, red.invoice_number),
        InvoiceKey(original.invoice_code, original.invoice_number),
    ]
    found = await repository.get_many([*keys, InvoiceKey("", "25110999999999999999")])
    assert set(found) == set(keys)
    red_invoice, original_invoice = found[keys[0]], found[keys[1]]
    assert red_invoice.red_letter and red_invoice.amount_fen < 0
    assert red_invoice.original_invoice is not None and red_invoice.original_invoice.id == original.id
    assert [ref.id for ref in original_invoice.red_letter_invoices] == [red.id]
    assert original_invoice.state in (InvoiceState.PARTIALLY_REVERSED, InvoiceState.FULLY_REVERSED)
    assert original_invoice.lines and sum(line.amount_fen for line in original_invoice.lines) == original.amount_fen
