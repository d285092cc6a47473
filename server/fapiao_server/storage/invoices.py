"""Reading invoices from the register."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ..coalescing import Coalescer
from ..domain.invoice import (
    Invoice,
    InvoiceKey,
    InvoiceLine,
    InvoiceReference,
    InvoiceSignature,
    InvoiceState,
    Party,
    VehicleDetails,
)
from ..domain.invoice_types import InvoiceType
from ..keys.data_keys import keep_keys_for
from ..keys.encryption import Keyring, UndecryptableValue
from ..telemetry import spans
from .database import storage_errors
from .queries import query

# A coalesced lookup's answer: the invoice, None when there is none, or the error of a row that does not open.
_Lookup = Invoice | None | UndecryptableValue


class PostgresInvoices:
    """The register's invoices, by key."""

    def __init__(self, pool: AsyncConnectionPool, keyring: Keyring, *, max_batch: int = 1000) -> None:
        self._pool = pool
        self._keyring = keyring
        # Single lookups arriving together share one query (identical keys share one row).
        self._lookups: Coalescer[InvoiceKey, _Lookup] = Coalescer(
            self._lookup_batch, max_batch=max_batch, traced_as="fapiao.lookup"
        )

    async def get(self, key: InvoiceKey) -> Invoice | None:
        (invoice,) = await self._lookups.submit([key])
        if isinstance(invoice, UndecryptableValue):
            raise invoice
        return invoice

    async def _lookup_batch(self, keys: list[InvoiceKey]) -> list[_Lookup]:
        unique = list(dict.fromkeys(keys))
        try:
            found: dict[InvoiceKey, _Lookup] = dict(await self.get_many(unique))
        except UndecryptableValue:
            if len(unique) == 1:
                raise
            # A damaged row must not fail the lookups that happened to share its query: each alone, each with
            # its own answer (rare: only while a row is damaged).
            found = {}
            for key in unique:
                try:
                    found |= await self.get_many([key])
                except UndecryptableValue as error:
                    found[key] = error
        return [found.get(key) for key in keys]

    async def get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        """The invoices that exist among ``keys``; absent keys are simply missing from the result."""
        if not keys:
            return {}
        params = {"numbers": [k.invoice_number for k in keys], "codes": [k.invoice_code for k in keys]}
        with storage_errors():
            async with self._pool.connection() as conn:
                invoices = await read_invoices(conn, query("invoices_by_keys"), params, self._keyring)
        return {invoice.key: invoice for invoice in invoices}


async def read_invoices(
    conn: psycopg.AsyncConnection[Any], statement: LiteralString, params: dict[str, Any], keyring: Keyring
) -> list[Invoice]:
    """The invoices a query of the ``invoice_documents`` view finds, personal details opened."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows = await cur.fetchall()
    await keep_keys_for(conn, keyring, rows)
    with spans.span("fapiao.open", {"fapiao.open.invoices": len(rows)}):
        return [invoice_from_row(keyring.open_invoice(row)) for row in rows]


def _party(row: dict[str, Any], prefix: str) -> Party:
    return Party(
        tax_id=row[f"{prefix}_tax_id"],
        name=row[f"{prefix}_name"],
        address=row[f"{prefix}_address"],
        phone=row[f"{prefix}_phone"],
        bank_name=row[f"{prefix}_bank_name"],
        bank_account=row[f"{prefix}_bank_account"],
    )


def line_from_values(values: list[Any]) -> InvoiceLine:
    """A line from the JSON array the document queries build for it (invoice lines and form lines alike)."""
    number, item, classification, spec, unit, quantity, unit_price, amount, rate, tax = values
    return InvoiceLine(
        line_number=number,
        item_name=item,
        tax_classification_code=classification,
        specification=spec,
        unit=unit,
        quantity=quantity or "",
        unit_price=unit_price or "",
        amount_fen=amount,
        tax_rate_basis_points=rate,
        tax_fen=tax,
    )


def invoice_from_row(row: dict[str, Any]) -> Invoice:
    """An invoice from a row of the ``invoice_documents`` view, its sealed columns already opened."""
    original = None
    if row["original_id"] is not None:
        original = InvoiceReference(
            row["original_id"], InvoiceType(row["original_type"]), row["original_code"], row["original_number"]
        )
    vehicle = None
    if row["vehicle_vin"] is not None:
        vehicle = VehicleDetails(
            vin=row["vehicle_vin"],
            brand_model=row["vehicle_brand_model"] or "",
            vehicle_type=row["vehicle_type"] or "",
            license_plate=row["vehicle_license_plate"] or "",
        )
    return Invoice(
        id=row["id"],
        invoice_type=InvoiceType(row["invoice_type"]),
        invoice_code=row["invoice_code"],
        invoice_number=row["invoice_number"],
        issue_date=row["issue_date"],
        issue_time=row["issue_time"],
        state=InvoiceState(row["state"]),
        seller=_party(row, "seller"),
        buyer=_party(row, "buyer"),
        amount_fen=row["amount_fen"],
        tax_fen=row["tax_fen"],
        total_fen=row["total_fen"],
        region_code=row["region_code"],
        update_time=row["updated_at"],
        lines=tuple(line_from_values(values) for values in row["lines"]),
        check_code=row["check_code"],
        qr_payload=row["qr_payload"],
        remarks=row["remarks"],
        issuer_name=row["issuer_name"],
        payee_name=row["payee_name"],
        reviewer_name=row["reviewer_name"],
        original_invoice=original,
        red_letter_invoices=tuple(
            InvoiceReference(ref_id, InvoiceType(kind), code, number)
            for ref_id, kind, code, number in row["red_letter_invoices"]
        ),
        reversed_amount_fen=row["reversed_amount_fen"],
        red_letter_form_id=str(row["red_letter_form_id"] or ""),
        certify_time=row["certified_at"],
        void_time=row["voided_at"],
        vehicle=vehicle,
        signature=None
        if row["signature"] is None
        else InvoiceSignature(row["signature_key_id"], bytes(row["signature"])),
    )
