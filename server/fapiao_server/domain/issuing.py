"""Issuing (开具): a seller's request checked field by field and priced exactly, and the identifiers the register
gives the invoice (docs/domain.md sections 1 and 6)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from .calendar import business_date
from .errors import FailedPrecondition, Violations
from .identifiers import PROVINCE_CODES, routing_region
from .invoice import Invoice, InvoiceLine, InvoiceReference, InvoiceState, Party, VehicleDetails
from .invoice_types import CHECK_CODE_TYPES, InvoiceType, Proof
from .money import MAX_ABS_FEN, tax_fen
from .qr import QrPayload, format_qr_payload
from .taxpayer import check_tax_id

INVALID_INVOICE = "INVALID_INVOICE"
# VAT rates in use (basis points): 13%, 9%, 6%, 0%, and the simplified 5%, 3%, 1%.
TAX_RATES = frozenset({1300, 900, 600, 0, 500, 300, 100})
MAX_LINES = 2000
# Special invoices are for deduction, so the buyer must be a registered taxpayer.
BUYER_TAX_ID_REQUIRED = frozenset(
    {InvoiceType.VAT_SPECIAL, InvoiceType.FREIGHT_VAT_SPECIAL, InvoiceType.E_VAT_SPECIAL, InvoiceType.DIGITAL_SPECIAL}
)
VEHICLE_TYPES = frozenset({InvoiceType.MOTOR_VEHICLE, InvoiceType.USED_CAR})
# The longest text each field may hold (characters): what the printed forms leave room for, generously.
_LIMITS = {
    "name": 200,
    "address": 200,
    "phone": 40,
    "bank_name": 200,
    "bank_account": 64,
    "item_name": 200,
    "specification": 100,
    "unit": 20,
    "remarks": 500,
    "issuer_name": 40,
    "payee_name": 40,
    "reviewer_name": 40,
    "brand_model": 100,
    "vehicle_type": 40,
    "license_plate": 20,
}
_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,8})?$")
_CLASSIFICATION = re.compile(r"^[0-9]{19}$")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
# Control characters (NUL cannot even be stored) have no place on an invoice.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class LineRequest:
    item_name: str
    amount_fen: int
    tax_rate_basis_points: int
    tax_classification_code: str = ""
    specification: str = ""
    unit: str = ""
    quantity: str = ""
    unit_price: str = ""


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """An invoice as a seller asks for it, not yet checked. ``invoice_type`` is the fplx number (0 if unset)."""

    invoice_type: int
    seller: Party
    buyer: Party
    lines: tuple[LineRequest, ...]
    remarks: str = ""
    issuer_name: str = ""
    payee_name: str = ""
    reviewer_name: str = ""
    vehicle: VehicleDetails | None = None


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """A checked, priced invoice waiting for its identifiers. Red invoices carry the original and their form."""

    invoice_type: InvoiceType
    region: str
    seller: Party
    buyer: Party
    lines: tuple[InvoiceLine, ...]
    remarks: str = ""
    issuer_name: str = ""
    payee_name: str = ""
    reviewer_name: str = ""
    vehicle: VehicleDetails | None = None
    original_invoice: InvoiceReference | None = None
    red_letter_form_id: int | None = None
    # For red invoices: the original line each line reverses, in line order.
    reverses_lines: tuple[int, ...] = ()
    amount_fen: int = field(init=False)
    tax_fen: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount_fen", sum(line.amount_fen for line in self.lines))
        object.__setattr__(self, "tax_fen", sum(line.tax_fen for line in self.lines))

    @property
    def total_fen(self) -> int:
        return self.amount_fen + self.tax_fen


def _text(problems: Violations, path: str, value: str, *, required: bool = False) -> str:
    limit = _LIMITS[path.rsplit(".", 1)[-1]]
    if required and not value.strip():
        problems.add(path, "is required")
    elif len(value) > limit:
        problems.add(path, f"is {len(value)} characters; at most {limit}")
    elif _CONTROL.search(value):
        problems.add(path, "contains control characters")
    return value.strip()


def seller_region(tax_id: str) -> str:
    """The region an invoice of this seller is issued in: its registration division (characters 3-6 of the
    unified social credit code), routed to its province or separately planned city."""
    division = tax_id[2:6]
    if not (division.isdigit() and division[:2] in PROVINCE_CODES):
        raise ValueError("characters 3-6 are not a registration region (province-level division code)")
    return routing_region(division)


def _party(problems: Violations, path: str, party: Party, *, tax_id_required: bool) -> Party:
    tax_id = party.tax_id.strip().upper()
    if tax_id or tax_id_required:
        try:
            tax_id = check_tax_id(tax_id)
            if len(tax_id) != 18:
                raise ValueError("new invoices need an 18-character unified social credit code")
        except ValueError as error:
            problems.add(f"{path}.tax_id", "is required" if not tax_id else str(error))
    return Party(
        tax_id=tax_id,
        name=_text(problems, f"{path}.name", party.name, required=True),
        address=_text(problems, f"{path}.address", party.address),
        phone=_text(problems, f"{path}.phone", party.phone),
        bank_name=_text(problems, f"{path}.bank_name", party.bank_name),
        bank_account=_text(problems, f"{path}.bank_account", party.bank_account),
    )


def _decimal(problems: Violations, path: str, value: str) -> Decimal | None:
    if not value:
        return None
    if not _DECIMAL.fullmatch(value):
        problems.add(path, "must be a positive decimal such as 3 or 12.5 (at most 8 decimals)")
        return None
    number = Decimal(value)
    if number == 0:
        problems.add(path, "must be greater than zero")
        return None
    return number


def _line(problems: Violations, position: int, line: LineRequest) -> InvoiceLine:
    path = f"lines[{position - 1}]"
    item = _text(problems, f"{path}.item_name", line.item_name, required=True)
    classification = line.tax_classification_code.strip()
    if classification and not _CLASSIFICATION.fullmatch(classification):
        problems.add(f"{path}.tax_classification_code", "must be the 19-digit tax classification code")
    if line.tax_rate_basis_points not in TAX_RATES:
        rates = ", ".join(str(r) for r in sorted(TAX_RATES, reverse=True))
        problems.add(
            f"{path}.tax_rate_basis_points", f"{line.tax_rate_basis_points} is not a VAT rate in use ({rates})"
        )
    amount = line.amount_fen
    if not 0 < amount <= MAX_ABS_FEN:
        problems.add(f"{path}.amount_fen", f"must be positive and at most {MAX_ABS_FEN} fen")
    quantity_text, price_text = line.quantity.strip(), line.unit_price.strip()
    quantity = _decimal(problems, f"{path}.quantity", quantity_text)
    unit_price = _decimal(problems, f"{path}.unit_price", price_text)
    if bool(quantity_text) != bool(price_text):
        missing = "unit_price" if quantity_text else "quantity"
        problems.add(f"{path}.{missing}", "give quantity and unit price together, or neither")
    elif quantity is not None and unit_price is not None and abs(quantity * unit_price * 100 - amount) > 1:
        problems.add(
            f"{path}.amount_fen",
            f"quantity x unit price is {quantity * unit_price:f} yuan; the amount must equal it to within 0.01",
        )
    rate = line.tax_rate_basis_points if line.tax_rate_basis_points in TAX_RATES else 0
    return InvoiceLine(
        line_number=position,
        item_name=item,
        amount_fen=amount,
        tax_rate_basis_points=rate,
        tax_fen=tax_fen(amount, rate) if 0 < amount <= MAX_ABS_FEN else 0,
        tax_classification_code=classification,
        specification=_text(problems, f"{path}.specification", line.specification),
        unit=_text(problems, f"{path}.unit", line.unit),
        # As PostgreSQL's numeric prints them ("003" reads back as "3"), so the signed invoice is the stored one.
        quantity=f"{quantity:f}" if quantity is not None else "",
        unit_price=f"{unit_price:f}" if unit_price is not None else "",
    )


def _vehicle(problems: Violations, kind: InvoiceType | None, vehicle: VehicleDetails | None) -> VehicleDetails | None:
    if kind not in VEHICLE_TYPES:
        if vehicle is not None and any((vehicle.vin, vehicle.brand_model, vehicle.vehicle_type, vehicle.license_plate)):
            problems.add("vehicle", "only motor vehicle (03) and used car (15) invoices carry vehicle details")
        return None
    vehicle = vehicle or VehicleDetails()
    vin = vehicle.vin.strip().upper()
    if not _VIN.fullmatch(vin):
        problems.add("vehicle.vin", "must be the 17-character vehicle identification number (no I, O or Q)")
    return VehicleDetails(
        vin=vin,
        brand_model=_text(problems, "vehicle.brand_model", vehicle.brand_model),
        vehicle_type=_text(problems, "vehicle.vehicle_type", vehicle.vehicle_type),
        license_plate=_text(problems, "vehicle.license_plate", vehicle.license_plate),
    )


def check_issue_request(request: IssueRequest) -> InvoiceDraft:
    """Check every field (all problems are reported at once) and price the lines exactly."""
    problems = Violations()
    try:
        kind: InvoiceType | None = InvoiceType(request.invoice_type)
    except ValueError:
        kind = None
        problems.add(
            "invoice_type",
            "is required" if not request.invoice_type else f"{request.invoice_type} is not an invoice type",
        )
    seller = _party(problems, "seller", request.seller, tax_id_required=True)
    region = ""
    if seller.tax_id and len(seller.tax_id) == 18:
        try:
            region = seller_region(seller.tax_id)
        except ValueError as error:
            problems.add("seller.tax_id", str(error))
    buyer = _party(problems, "buyer", request.buyer, tax_id_required=kind in BUYER_TAX_ID_REQUIRED)
    if buyer.tax_id and buyer.tax_id == seller.tax_id:
        problems.add("buyer.tax_id", "is the seller's own tax id; an invoice needs two parties")
    if not request.lines:
        problems.add("lines", "at least one line is required")
    elif len(request.lines) > MAX_LINES:
        problems.add("lines", f"{len(request.lines)} lines; at most {MAX_LINES}")
    elif kind in VEHICLE_TYPES and len(request.lines) != 1:
        problems.add("lines", "a motor vehicle or used car invoice has exactly one line (the vehicle)")
    lines = tuple(_line(problems, n, line) for n, line in enumerate(request.lines[:MAX_LINES], start=1))
    # The total is judged only when every line's amount is sound (a bad line is reported on its own).
    if (
        all(0 < line.amount_fen <= MAX_ABS_FEN for line in lines)
        and sum(line.amount_fen + line.tax_fen for line in lines) > MAX_ABS_FEN
    ):
        problems.add("lines", f"the total exceeds {MAX_ABS_FEN} fen")
    draft = InvoiceDraft(
        invoice_type=kind or InvoiceType.VAT_GENERAL,
        region=region,
        seller=seller,
        buyer=buyer,
        lines=lines,
        remarks=_text(problems, "remarks", request.remarks),
        issuer_name=_text(problems, "issuer_name", request.issuer_name),
        payee_name=_text(problems, "payee_name", request.payee_name),
        reviewer_name=_text(problems, "reviewer_name", request.reviewer_name),
        vehicle=_vehicle(problems, kind, request.vehicle),
    )
    problems.raise_if_any(INVALID_INVOICE)
    return draft


# --- identifiers -------------------------------------------------------------------------------------------

LEGACY_NUMBER_LIMIT = 99_999_999
# Kind digits of the codes the register issues under: digit 8 of a 10-digit code, digits 11-12 of a 12-digit.
_TEN_DIGIT_KIND = {InvoiceType.VAT_SPECIAL: "1", InvoiceType.FREIGHT_VAT_SPECIAL: "2", InvoiceType.VAT_GENERAL: "3"}
_TWELVE_DIGIT_KIND = {
    InvoiceType.VAT_GENERAL_ROLL: "06",
    InvoiceType.E_VAT_GENERAL: "11",
    InvoiceType.TOLL: "12",
    InvoiceType.E_VAT_SPECIAL: "13",
    InvoiceType.USED_CAR: "17",
}
# The batch digits of codes the register issues under (generated history uses 0-2), and the 数电 channel digit.
ISSUE_BATCH = "9"
DIGITAL_CHANNEL = "2"


def number_prefix(kind: InvoiceType, region: str, day: date) -> str:
    """The counter an invoice's number comes from: its invoice code (legacy), or the first five digits of a 数电
    number (year, province, channel). One per type, region and year, so each code's numbers run 1, 2, 3..."""
    yy = f"{day.year % 100:02d}"
    if kind.digital:
        return f"{yy}{region[:2]}{DIGITAL_CHANNEL}"
    if kind is InvoiceType.MOTOR_VEHICLE:
        return f"1{region}{yy}2{ISSUE_BATCH}000"
    if kind in _TEN_DIGIT_KIND:
        return f"{region}{yy}{ISSUE_BATCH}{_TEN_DIGIT_KIND[kind]}00"
    return f"0{region}{yy}{ISSUE_BATCH}00{_TWELVE_DIGIT_KIND[kind]}"


def identifiers(kind: InvoiceType, prefix: str, value: int) -> tuple[str, str]:
    """(invoice code, number) for the ``value``-th number under ``prefix``."""
    if kind.digital:
        return "", f"{prefix}{value:015d}"
    if value > LEGACY_NUMBER_LIMIT:
        raise FailedPrecondition(
            f"invoice code {prefix} has used all 8-digit numbers", reason="NUMBERS_EXHAUSTED", subject=prefix
        )
    return prefix, f"{value:08d}"


def new_check_code(kind: InvoiceType) -> str:
    """A random 20-digit check code (校验码) for types that print one; '' for the others."""
    return f"{secrets.randbelow(10**20):020d}" if kind in CHECK_CODE_TYPES else ""


def qr_payload(kind: InvoiceType, code: str, number: str, draft: InvoiceDraft, day: date, check_code: str) -> str:
    """The QR payload printed on the invoice. Its tag (meaning unconfirmed nationally) is ours: the first four hex
    digits of the SHA-256 of the fields before it, so a scanner can tell a mistyped payload."""
    amount = draft.total_fen if kind.proof is Proof.TOTAL else draft.amount_fen
    body = QrPayload(kind, code, number, amount, day, check_code, "")
    tag = hashlib.sha256(format_qr_payload(body).encode()).hexdigest()[:4].upper()
    return format_qr_payload(QrPayload(kind, code, number, amount, day, check_code, tag))


def finish(draft: InvoiceDraft, *, invoice_id: int, code: str, number: str, now: datetime) -> Invoice:
    """The invoice as stored: the draft with its identifiers, check code, QR payload and time of issue."""
    day = business_date(now)
    check_code = new_check_code(draft.invoice_type)
    return Invoice(
        id=invoice_id,
        invoice_type=draft.invoice_type,
        invoice_code=code,
        invoice_number=number,
        issue_date=day,
        issue_time=now,
        state=InvoiceState.ISSUED,
        seller=draft.seller,
        buyer=draft.buyer,
        amount_fen=draft.amount_fen,
        tax_fen=draft.tax_fen,
        total_fen=draft.total_fen,
        region_code=draft.region,
        update_time=now,
        lines=draft.lines,
        check_code=check_code,
        qr_payload=qr_payload(draft.invoice_type, code, number, draft, day, check_code),
        remarks=draft.remarks,
        issuer_name=draft.issuer_name,
        payee_name=draft.payee_name,
        reviewer_name=draft.reviewer_name,
        original_invoice=draft.original_invoice,
        red_letter_form_id="" if draft.red_letter_form_id is None else str(draft.red_letter_form_id),
        vehicle=draft.vehicle,
    )
