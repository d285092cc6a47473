"""The register's rules for an invoice to issue that need nothing but the draft itself, checked before it is sent
so that one run of `fapiao issue` reports every mistake of a file, and a file with any mistake issues nothing.

The register checks them again (it is the authority, and knows more: whether the caller acts for the seller,
whether a tax id is registered); these are the published rules that do not change with its data."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb

from .errors import FieldViolation

# VAT rates in use (basis points): 13%, 9%, 6%, 0%, and the simplified 5%, 3%, 1%.
TAX_RATES = (1300, 900, 600, 500, 300, 100, 0)
# Special invoices are for deduction, so the buyer must be a registered taxpayer.
BUYER_TAX_ID_REQUIRED = frozenset({
    invoice_pb2.INVOICE_TYPE_VAT_SPECIAL, invoice_pb2.INVOICE_TYPE_FREIGHT_VAT_SPECIAL,
    invoice_pb2.INVOICE_TYPE_E_VAT_SPECIAL, invoice_pb2.INVOICE_TYPE_DIGITAL_SPECIAL,
})  # fmt: skip
VEHICLE_TYPES = frozenset({invoice_pb2.INVOICE_TYPE_MOTOR_VEHICLE, invoice_pb2.INVOICE_TYPE_USED_CAR})
# The unified social credit code (GB 32100-2015): 18 characters of this alphabet, the last a weighted check.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
Report = Callable[[str, str], None]


def tax_id_problem(tax_id: str) -> str:
    """Why ``tax_id`` cannot be a new invoice's party, or "" when it can."""
    text = tax_id.strip().upper()
    if len(text) != 18:
        return f"{tax_id!r} is not an 18-character unified social credit code"
    if any(character not in USCC_ALPHABET for character in text):
        return f"{tax_id!r} has characters a unified social credit code does not use (I, O, S, V, Z)"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(text[:17], _WEIGHTS, strict=True))
    if text[17] != USCC_ALPHABET[(31 - total % 31) % 31]:
        return f"{tax_id!r}: its check character (the last) is wrong; is a character mistyped?"
    return ""


def rule_violations(request: pb.IssueInvoiceRequest) -> list[FieldViolation]:
    """Every broken rule of ``request``, by its path (as the register names them)."""
    found: list[FieldViolation] = []

    def add(path: str, description: str) -> None:
        found.append(FieldViolation(path, description))

    for name in ("seller", "buyer"):
        party = getattr(request, name)
        if not party.name.strip():
            add(f"{name}.name", "is required")
        required = name == "seller" or request.invoice_type in BUYER_TAX_ID_REQUIRED
        if party.tax_id.strip() or required:
            problem = tax_id_problem(party.tax_id) if party.tax_id.strip() else "is required"
            if problem:
                add(f"{name}.tax_id", problem)
    if request.buyer.tax_id.strip() and request.buyer.tax_id.strip().upper() == request.seller.tax_id.strip().upper():
        add("buyer.tax_id", "is the seller's own tax id; an invoice needs two parties")
    if request.invoice_type in VEHICLE_TYPES and len(request.lines) != 1:
        add("lines", "a motor vehicle or used car invoice has exactly one line (the vehicle)")
    if request.invoice_type not in VEHICLE_TYPES and request.HasField("vehicle"):
        add("vehicle", "only motor vehicle (03) and used car (15) invoices carry vehicle details")
    for number, line in enumerate(request.lines):
        _line(add, f"lines[{number}]", line)
    return found


def _line(report: Report, path: str, line: pb.IssueLine) -> None:
    if not line.item_name.strip():
        report(f"{path}.item_name", "is required")
    if line.tax_rate_basis_points not in TAX_RATES:
        rates = ", ".join(f"{rate / 100:g}%" for rate in TAX_RATES)
        report(f"{path}.tax_rate", f"{line.tax_rate_basis_points / 100:g}% is not a VAT rate in use ({rates})")
    if bool(line.quantity) != bool(line.unit_price):
        missing = "unit_price" if line.quantity else "quantity"
        report(f"{path}.{missing}", "give quantity and unit_price together, or neither")
    elif line.quantity and line.unit_price and line.amount_fen > 0:
        try:
            product = Decimal(line.quantity) * Decimal(line.unit_price)
        except InvalidOperation:
            return  # reported where they were read
        if abs(product * 100 - line.amount_fen) > 1:
            report(f"{path}.amount", f"quantity x unit_price is {product:f} yuan; the amount must equal it within 0.01")
