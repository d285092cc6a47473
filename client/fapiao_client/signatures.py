"""Checking the register's signatures offline: on invoices and on verification receipts (docs/signing.md).

>>> keys = RegisterKeyClient("127.0.0.1:50051").signing_keys()   # or PublicKeys.load("keys.json")
>>> verify_invoice_signature(invoice, keys)                       # an Invoice in the FULL view
>>> statement = verify_receipt(answer.receipt, keys)              # what the register said, as a dict

The invoice's canonical form is rebuilt here from the Invoice message, so no extra bytes travel with it; the
register builds the same bytes from its own records (a test keeps the two in agreement).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format

from fapiao.v1 import invoice_pb2, register_key_service_pb2, verification_service_pb2

FORM_VERSION = 1
INVOICE_KIND = "fapiao.invoice"
RECEIPT_KIND = "fapiao.verification-receipt"


class SignatureError(Exception):
    """A signature that does not prove what it should. ``reason`` is stable: UNSIGNED (an invoice from before the
    register signed), UNKNOWN_KEY (no such key in the keys given), BAD_SIGNATURE (the bytes were changed, or were
    signed by another key), NOT_A_RECEIPT (the signed body is not a receipt)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PublicKeys(Mapping[str, register_key_service_pb2.SigningKey]):
    """The register's public keys by key id, as ListSigningKeys returned them; save them to check signatures
    later without asking the register again."""

    def __init__(self, keys: Iterable[register_key_service_pb2.SigningKey]) -> None:
        self._keys = {key.key_id: key for key in keys}

    def __getitem__(self, key_id: str) -> register_key_service_pb2.SigningKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def response(self) -> register_key_service_pb2.ListSigningKeysResponse:
        """The keys as the ListSigningKeysResponse they came in."""
        return register_key_service_pb2.ListSigningKeysResponse(keys=list(self._keys.values()))

    def to_json(self) -> str:
        """The keys file: ListSigningKeysResponse in protobuf's JSON mapping (public_key in base64). Its
        camelCase names stay as published, for readers of files already saved; from_json reads either spelling."""
        return json_format.MessageToJson(self.response())

    @classmethod
    def from_json(cls, text: str) -> PublicKeys:
        response = json_format.Parse(text, register_key_service_pb2.ListSigningKeysResponse())
        return cls(response.keys)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> PublicKeys:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def check(self, key_id: str, signature: bytes, message: bytes, what: str) -> None:
        """Raise SignatureError unless ``signature`` is key ``key_id``'s Ed25519 signature of ``message``."""
        key = self._keys.get(key_id)
        if key is None:
            raise SignatureError(
                f"{what} was signed by key {key_id!r}, which is not among the {len(self._keys)} keys given;"
                " fetch the register's keys again",
                reason="UNKNOWN_KEY",
            )
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            raise SignatureError(
                f"{what}: the signature by key {key_id} does not match; it was altered or not signed by the register",
                reason="BAD_SIGNATURE",
            ) from None


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes for values of dicts with ASCII keys, lists, strings, integers, booleans and None."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _microseconds(stamp: Any) -> int:
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000


def _party(party: invoice_pb2.Party) -> dict[str, str]:
    return {
        "tax_id": party.tax_id,
        "name": party.name,
        "address": party.address,
        "phone": party.phone,
        "bank_name": party.bank_name,
        "bank_account": party.bank_account,
    }


def _line(line: invoice_pb2.InvoiceLine) -> dict[str, Any]:
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


def invoice_facts(invoice: invoice_pb2.Invoice) -> dict[str, Any]:
    """The facts an invoice's signature covers (docs/signing.md), from the Invoice message (FULL view)."""
    day = invoice.issue_date
    original = invoice.original_invoice if invoice.HasField("original_invoice") else None
    vehicle = invoice.vehicle if invoice.HasField("vehicle") else None
    return {
        "kind": INVOICE_KIND,
        "version": FORM_VERSION,
        "invoice_type": invoice.invoice_type,
        "invoice_code": invoice.invoice_code,
        "invoice_number": invoice.invoice_number,
        "issue_date": f"{day.year:04d}-{day.month:02d}-{day.day:02d}",
        "issue_time_us": _microseconds(invoice.issue_time),
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
            "invoice_type": original.invoice_type,
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


def canonical_invoice(invoice: invoice_pb2.Invoice) -> bytes:
    """The bytes the register signed for this invoice."""
    return canonical_json(invoice_facts(invoice))


def verify_invoice_signature(invoice: invoice_pb2.Invoice, keys: PublicKeys) -> None:
    """Raise :class:`SignatureError` unless the register signed exactly these facts of the invoice. The invoice
    must be in the FULL view (the default of GetInvoice and VerifyInvoice): the signature covers its lines."""
    number = invoice.invoice_number
    name = f"invoice {invoice.invoice_code}:{number}" if invoice.invoice_code else f"invoice {number}"
    if not invoice.HasField("signature"):
        raise SignatureError(
            f"{name} carries no signature: it was issued before the register signed invoices, or it was fetched in"
            " the BASIC view (ask for FULL)",
            reason="UNSIGNED",
        )
    keys.check(invoice.signature.key_id, invoice.signature.signature, canonical_invoice(invoice), name)


def verify_receipt(receipt: verification_service_pb2.VerificationReceipt, keys: PublicKeys) -> dict[str, Any]:
    """Check a receipt's signature; returns what the register stated (the parsed body: outcome, asked,
    verify_time, caller, ...). Raises :class:`SignatureError` when the receipt was altered or not signed by the
    register."""
    if not receipt.body:
        raise SignatureError("the answer carries no receipt (ask with with_receipt)", reason="UNSIGNED")
    keys.check(receipt.key_id, receipt.signature, receipt.body, "receipt")
    statement = json.loads(receipt.body)
    if statement.get("kind") != RECEIPT_KIND or statement.get("key_id") != receipt.key_id:
        raise SignatureError("the signed body is not a verification receipt of this key", reason="NOT_A_RECEIPT")
    return statement


def receipt_time(statement: Mapping[str, Any]) -> datetime:
    """When the register answered, from a verified receipt's statement."""
    return datetime.strptime(statement["verify_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def save_receipt(receipt: verification_service_pb2.VerificationReceipt, path: str | Path) -> None:
    """Keep a receipt as protobuf's JSON mapping (bytes in base64), which :func:`load_receipt` reads back."""
    Path(path).write_text(json_format.MessageToJson(receipt) + "\n", encoding="utf-8")


def load_receipt(path: str | Path) -> verification_service_pb2.VerificationReceipt:
    text = Path(path).read_text(encoding="utf-8")
    return json_format.Parse(text, verification_service_pb2.VerificationReceipt())
