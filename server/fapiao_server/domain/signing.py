"""What the register signs (docs/signing.md): an invoice's immutable facts and a verification receipt, each as
canonical JSON (RFC 8785: sorted keys, no whitespace, UTF-8, integers only), so that a third party can rebuild
the exact bytes without our SDK. The client SDK rebuilds the invoice form from the Invoice message
(``fapiao_client.signatures``); a test keeps the two in agreement over many generated invoices.

Pure: the private key stays with the adapter that implements ``Signer``."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from .invoice import Invoice, InvoiceLine, InvoiceSignature, Party
from .verification import VerificationRecord, VerificationRequest

# Bumped only if the canonical forms ever change; signatures name the form they were made over.
FORM_VERSION = 1
INVOICE_KIND = "fapiao.invoice"
RECEIPT_KIND = "fapiao.verification-receipt"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Signer(Protocol):
    """A signing key of the register: its published id, and Ed25519 signatures made with it."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A public key the register has signed with, and when: ``retire_time`` is None while it is the current one."""

    key_id: str
    algorithm: str
    public_key: bytes
    activate_time: datetime
    retire_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """A signed statement of one verification answer: ``body`` is the canonical JSON that ``signature`` covers."""

    body: bytes
    key_id: str
    signature: bytes


# Built once: json.dumps with options builds an encoder per call, a fair part of the cost for one invoice.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a value built from dicts with ASCII keys, lists, strings, integers, booleans and None.
    Python's encoder with these options writes exactly JCS for such values (floats are never used)."""
    return _ENCODER.encode(value).encode()


def microseconds(instant: datetime) -> int:
    """An instant as integer microseconds since 1970-01-01T00:00:00Z (the register stores microseconds)."""
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _party(party: Party) -> dict[str, str]:
    return {
        "tax_id": party.tax_id,
        "name": party.name,
        "address": party.address,
        "phone": party.phone,
        "bank_name": party.bank_name,
        "bank_account": party.bank_account,
    }


def _line(line: InvoiceLine) -> dict[str, Any]:
    return {
        "line_number": line.line_number,
        "item_name": line.item_name,
        "tax_classification_code": line.tax_classification_code,
        "specification": line.specification,
        "unit": line.unit,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "amount_fen": line.amount_fen,
        "tax_rate_basis_points": line.tax_rate_basis_points,
        "tax_fen": line.tax_fen,
    }


def invoice_facts(invoice: Invoice) -> dict[str, Any]:
    """The facts an invoice's signature covers: everything fixed when it was issued. Not its state, certification,
    void time, reversals or red invoices against it, which change later; not its register id, which is ours."""
    original = invoice.original_invoice
    vehicle = invoice.vehicle
    return {
        "kind": INVOICE_KIND,
        "version": FORM_VERSION,
        "invoice_type": int(invoice.invoice_type),
        "invoice_code": invoice.invoice_code,
        "invoice_number": invoice.invoice_number,
        "issue_date": invoice.issue_date.isoformat(),
        "issue_time_us": microseconds(invoice.issue_time),
        "region_code": invoice.region_code,
        "seller": _party(invoice.seller),
        "buyer": _party(invoice.buyer),
        "lines": [_line(line) for line in invoice.lines],
        "amount_fen": invoice.amount_fen,
        "tax_fen": invoice.tax_fen,
        "total_fen": invoice.total_fen,
        "check_code": invoice.check_code,
        "qr_payload": invoice.qr_payload,
        "remarks": invoice.remarks,
        "issuer_name": invoice.issuer_name,
        "payee_name": invoice.payee_name,
        "reviewer_name": invoice.reviewer_name,
        "original_invoice": None
        if original is None
        else {
            "invoice_type": int(original.invoice_type),
            "invoice_code": original.invoice_code,
            "invoice_number": original.invoice_number,
        },
        "red_letter_form_id": invoice.red_letter_form_id,
        "vehicle": None
        if vehicle is None
        else {
            "vin": vehicle.vin,
            "brand_model": vehicle.brand_model,
            "vehicle_type": vehicle.vehicle_type,
            "license_plate": vehicle.license_plate,
        },
    }


def canonical_invoice(invoice: Invoice) -> bytes:
    return canonical_json(invoice_facts(invoice))


def signed(invoice: Invoice, signer: Signer) -> Invoice:
    """The invoice with the register's signature over its canonical form."""
    signature = signer.sign(canonical_invoice(invoice))
    return replace(invoice, signature=InvoiceSignature(signer.key_id, signature))


def _asked(request: VerificationRequest, qr_payload: str | None) -> dict[str, Any]:
    year, month, day = request.issue_date
    asked: dict[str, Any] = {
        "invoice_code": request.invoice_code,
        "invoice_number": request.invoice_number,
        "issue_date": f"{year:04d}-{month:02d}-{day:02d}",
        "invoice_type": request.invoice_type,
        "proof": None if request.proof is None else {request.proof[0]: request.proof[1]},
    }
    if qr_payload is not None:
        asked["qr_payload"] = qr_payload
    return asked


def receipt(
    record: VerificationRecord,
    request: VerificationRequest,
    invoice: Invoice | None,
    signer: Signer,
    *,
    receipt_id: str,
    qr_payload: str | None = None,
) -> Receipt:
    """Sign what the register answered to ``request``: the record kept of it, and on MATCH which invoice it was
    and that invoice's own signature (so the receipt also vouches for the invoice's facts)."""
    matched = None
    if invoice is not None:
        matched = {
            "invoice_type": int(invoice.invoice_type),
            "invoice_code": invoice.invoice_code,
            "invoice_number": invoice.invoice_number,
            "signature": None
            if invoice.signature is None
            else {"key_id": invoice.signature.key_id, "signature": invoice.signature.signature.hex()},
        }
    body = canonical_json(
        {
            "kind": RECEIPT_KIND,
            "version": FORM_VERSION,
            "receipt_id": receipt_id,
            "verification_id": str(record.id),
            "verify_time": record.verify_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "caller": record.caller,
            "channel": record.channel.name,
            "asked": _asked(request, qr_payload),
            "outcome": record.outcome.name,
            "mismatched_fields": list(record.mismatched_fields),
            "invoice_state": None if record.invoice_state is None else record.invoice_state.name,
            "invoice": matched,
            "key_id": signer.key_id,
        }
    )
    return Receipt(body, signer.key_id, signer.sign(body))
