"""The invoice as the register holds it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from .invoice_types import InvoiceType


class InvoiceState(enum.IntEnum):
    """Lifecycle states; values equal the proto enum numbers."""

    ISSUED = 1
    VOIDED = 2
    PARTIALLY_REVERSED = 3
    FULLY_REVERSED = 4


@dataclass(frozen=True, slots=True)
class InvoiceKey:
    """What identifies an invoice: code + number for legacy invoices, the number alone for 数电 ("" code)."""

    invoice_code: str
    invoice_number: str

    def __str__(self) -> str:
        return f"{self.invoice_code}:{self.invoice_number}" if self.invoice_code else self.invoice_number


@dataclass(frozen=True, slots=True)
class Party:
    tax_id: str
    name: str
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bank_account: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_number: int
    item_name: str
    amount_fen: int
    tax_rate_basis_points: int
    tax_fen: int
    tax_classification_code: str = ""
    specification: str = ""
    unit: str = ""
    quantity: str = ""
    unit_price: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceReference:
    id: int
    invoice_type: InvoiceType
    invoice_code: str
    invoice_number: str


@dataclass(frozen=True, slots=True)
class VehicleDetails:
    vin: str = ""
    brand_model: str = ""
    vehicle_type: str = ""
    license_plate: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceSignature:
    """The register's Ed25519 signature over an invoice's canonical form (domain.signing), by key ``key_id``."""

    key_id: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class Invoice:
    id: int
    invoice_type: InvoiceType
    invoice_code: str
    invoice_number: str
    issue_date: date
    issue_time: datetime
    state: InvoiceState
    seller: Party
    buyer: Party
    amount_fen: int
    tax_fen: int
    total_fen: int
    region_code: str
    update_time: datetime
    lines: tuple[InvoiceLine, ...] = ()
    check_code: str = ""
    qr_payload: str = ""
    remarks: str = ""
    issuer_name: str = ""
    payee_name: str = ""
    reviewer_name: str = ""
    original_invoice: InvoiceReference | None = None
    red_letter_invoices: tuple[InvoiceReference, ...] = ()
    reversed_amount_fen: int = 0
    red_letter_form_id: str = ""
    certify_time: datetime | None = None
    void_time: datetime | None = None
    vehicle: VehicleDetails | None = None
    # None for invoices issued before the register signed them (migration 0007).
    signature: InvoiceSignature | None = None

    @property
    def key(self) -> InvoiceKey:
        return InvoiceKey(self.invoice_code, self.invoice_number)

    @property
    def red_letter(self) -> bool:
        return self.original_invoice is not None
