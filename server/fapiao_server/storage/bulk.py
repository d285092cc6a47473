"""Bulk loading of generated invoices (`fapiao seed`): numbers reserved from the register's own counters,
ids from its sequence, rows by COPY, one transaction per batch so a batch lands whole or not at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

import psycopg

from ..domain.events import EventType
from ..domain.invoice import Invoice, InvoiceLine, InvoiceReference
from ..domain.invoice_types import Proof
from ..domain.issuing import identifiers
from ..domain.qr import QrPayload, format_qr_payload
from ..domain.signing import Signer, signed
from ..keys.data_keys import follow_primary_sync
from ..keys.encryption import Keyring
from ..keys.published import publish_signing_key
from ..keys.signing import SigningKey
from ..seeding.generator import InvoiceGenerator, SeedInvoice
from .database import storage_errors
from .queries import query


def _quiet(_landed: int) -> None:
    pass


def _numbers(conn: psycopg.Connection, batch: Sequence[SeedInvoice]) -> list[str]:
    """Numbers from the register's own counters, reserved as IssueInvoice reserves them (one statement, rows
    locked in prefix order) and formatted by the same domain rule."""
    counts = Counter(inv.prefix for inv in batch)
    reserved = conn.execute(
        query("reserve_number_blocks"), {"prefixes": list(counts), "counts": list(counts.values())}
    ).fetchall()
    following = {prefix: next_value - counts[prefix] for prefix, next_value in reserved}
    numbers = []
    for inv in batch:
        numbers.append(identifiers(inv.invoice_type, inv.prefix, following[inv.prefix])[1])
        following[inv.prefix] += 1
    return numbers


def _qr(inv: SeedInvoice, number: str) -> str:
    code = "" if inv.invoice_type.digital else inv.prefix
    amount = inv.total_fen if inv.invoice_type.proof is Proof.TOTAL else inv.amount_fen
    return format_qr_payload(QrPayload(inv.invoice_type, code, number, amount, inv.issue_date, inv.check_code, inv.tag))


def seeded_invoice(inv: SeedInvoice, invoice_id: int, number: str, original: Invoice | None) -> Invoice:
    """A generated invoice as the register holds it once written (what its signature covers); ``original`` is
    the invoice it reverses, for a red one."""
    code = "" if inv.invoice_type.digital else inv.prefix
    return Invoice(
        id=invoice_id,
        invoice_type=inv.invoice_type,
        invoice_code=code,
        invoice_number=number,
        issue_date=inv.issue_date,
        issue_time=inv.issue_time,
        state=inv.state,
        seller=inv.seller,
        buyer=inv.buyer,
        amount_fen=inv.amount_fen,
        tax_fen=inv.tax_fen,
        total_fen=inv.total_fen,
        region_code=inv.region,
        update_time=inv.issue_time,
        lines=tuple(
            InvoiceLine(
                line_number=position,
                item_name=line.item_name,
                amount_fen=line.amount_fen,
                tax_rate_basis_points=line.tax_rate_basis_points,
                tax_fen=line.tax_fen,
                tax_classification_code=line.tax_classification_code,
                specification=line.specification,
                unit=line.unit,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for position, line in enumerate(inv.lines, start=1)
        ),
        check_code=inv.check_code,
        qr_payload=_qr(inv, number),
        remarks=inv.remarks,
        issuer_name=inv.issuer_name,
        payee_name=inv.payee_name,
        reviewer_name=inv.reviewer_name,
        original_invoice=None
        if original is None
        else InvoiceReference(original.id, original.invoice_type, original.invoice_code, original.invoice_number),
        vehicle=inv.vehicle,
    )


def _invoice_row(inv: SeedInvoice, invoice: Invoice, keyring: Keyring) -> tuple[Any, ...]:
    vehicle, signature = inv.vehicle, invoice.signature
    original_id = invoice.original_invoice.id if invoice.original_invoice else None
    s = keyring.seal_invoice(invoice.id, inv)  # short: the tuple below keeps one line per group of columns
    return (
        invoice.id, int(inv.invoice_type), invoice.invoice_code, invoice.invoice_number,
        inv.issue_date, inv.issue_time, int(inv.state), inv.region,
        inv.seller.tax_id, s["seller_name"], s["seller_address"], s["seller_phone"], s["seller_bank_name"],
        s["seller_bank_account"],
        inv.buyer.tax_id, s["buyer_name"], s["buyer_address"], s["buyer_phone"], s["buyer_bank_name"],
        s["buyer_bank_account"],
        inv.amount_fen, inv.tax_fen, inv.total_fen, inv.check_code, invoice.qr_payload, inv.remarks,
        s["issuer_name"], s["payee_name"], s["reviewer_name"],
        vehicle and vehicle.vin, vehicle and vehicle.brand_model, vehicle and vehicle.vehicle_type,
        vehicle and vehicle.license_plate,
        original_id, inv.reversed_amount_fen, inv.certified_at, inv.voided_at, keyring.primary_id,
        signature and signature.key_id, signature and signature.signature,
    )  # fmt: skip


SEED_ACTOR = "seed"


def _history(batch: Sequence[SeedInvoice], ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """Event rows for a generated batch: each invoice's ISSUED event, then what brought it to its state."""
    issued, voided, certified, reversed_ = (int(t) for t in (EventType.ISSUED, EventType.VOIDED,
                                                              EventType.CERTIFIED, EventType.REVERSED))  # fmt: skip
    for inv, invoice_id in zip(batch, ids, strict=True):
        parties = (inv.seller.tax_id, inv.buyer.tax_id, inv.region, SEED_ACTOR)
        yield (issued, invoice_id, *parties, inv.issue_time, "", None, 1, 0, None)
        if inv.voided_at is not None:
            yield (voided, invoice_id, *parties, inv.voided_at, "", 1, 2, 0, None)
        if inv.certified_at is not None:
            yield (certified, invoice_id, *parties, inv.certified_at, "", 1, 1, 0, None)
        if inv.reverses is not None:
            original = batch[inv.reverses]
            yield (reversed_, ids[inv.reverses], original.seller.tax_id, original.buyer.tax_id, original.region,
                   SEED_ACTOR, inv.issue_time, inv.remarks, 1, int(original.state), -inv.amount_fen,
                   invoice_id)  # fmt: skip


def write_seed_batch(
    conn: psycopg.Connection, batch: Sequence[SeedInvoice], keyring: Keyring, signer: Signer
) -> list[tuple[str, str]]:
    """Insert a generated batch, each invoice signed as IssueInvoice signs and its personal details sealed;
    returns each invoice's (code, number) in batch order."""
    with storage_errors(), conn.transaction():
        follow_primary_sync(conn, keyring)
        ids = [row[0] for row in conn.execute(query("next_invoice_ids"), {"count": len(batch)})]
        numbers = _numbers(conn, batch)
        invoices: list[Invoice] = []
        for inv, invoice_id, number in zip(batch, ids, numbers, strict=True):
            original = None if inv.reverses is None else invoices[inv.reverses]  # originals come first
            invoices.append(signed(seeded_invoice(inv, invoice_id, number, original), signer))
        with conn.cursor().copy(query("copy_invoices")) as copy:
            for inv, invoice in zip(batch, invoices, strict=True):
                copy.write_row(_invoice_row(inv, invoice, keyring))
        with conn.cursor().copy(query("copy_invoice_lines")) as copy:
            for inv, invoice_id in zip(batch, ids, strict=True):
                for position, line in enumerate(inv.lines, start=1):
                    copy.write_row((
                        invoice_id, position, line.item_name, line.tax_classification_code, line.specification,
                        line.unit, line.quantity or None, line.unit_price or None, line.amount_fen,
                        line.tax_rate_basis_points, line.tax_fen, line.reverses_line,
                    ))  # fmt: skip
        with conn.cursor().copy(query("copy_invoice_events")) as copy:
            for row in _history(batch, ids):
                copy.write_row(row)
    return [
        ("" if inv.invoice_type.digital else inv.prefix, number) for inv, number in zip(batch, numbers, strict=True)
    ]


def seed_register(
    url: str,
    count: int,
    keyring: Keyring,
    *,
    seed: int,
    now: datetime,
    signer: SigningKey,
    batch_size: int = 5000,
    on_batch: Callable[[int], None] = _quiet,
) -> int:
    """Generate and insert ``count`` invoices signed by ``signer`` (which is published first, as a server
    publishes its key); ``on_batch`` hears how many landed after each batch."""
    generator = InvoiceGenerator(seed=seed, now=now)
    done = 0
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        publish_signing_key(conn, signer.key_id, signer.public_key)
        while done < count:
            batch = generator.batch(min(batch_size, count - done))
            write_seed_batch(conn, batch, keyring, signer)
            done += len(batch)
            on_batch(len(batch))
    return done


def demo_sample(url: str, *, since: date) -> tuple[str, str, date, str, str, str] | None:
    """(code, number, issue date, check code, seller tax id, region) of an invoice the demo can show being
    verified."""
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query("demo_sample_invoice"), {"since": since}).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], row[5])


def count_invoices(url: str) -> int:
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        (count,) = conn.execute(query("count_invoices")).fetchone() or (0,)
    return count
