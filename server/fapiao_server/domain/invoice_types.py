"""Invoice types (fplx) and what each implies for numbering, voiding and verification."""

from __future__ import annotations

import enum


class Proof(enum.Enum):
    """The field besides code, number and date that verification asks for (docs/domain.md section 2)."""

    CHECK_CODE = "check_code"  # last 6 digits of the 20-digit check code
    AMOUNT = "amount_fen"  # amount (or price) excluding tax
    TOTAL = "total_fen"  # total amount / total vehicle price / 价税合计


class InvoiceType(enum.IntEnum):
    """fplx codes; the value is the national code, so ``InvoiceType(1).code == "01"``."""

    VAT_SPECIAL = 1
    FREIGHT_VAT_SPECIAL = 2
    MOTOR_VEHICLE = 3
    VAT_GENERAL = 4
    E_VAT_SPECIAL = 8
    E_VAT_GENERAL = 10
    VAT_GENERAL_ROLL = 11
    TOLL = 14
    USED_CAR = 15
    DIGITAL_SPECIAL = 31
    DIGITAL_GENERAL = 32

    @property
    def code(self) -> str:
        """The two-digit fplx code, e.g. ``"01"``."""
        return f"{self.value:02d}"

    @property
    def digital(self) -> bool:
        """数电 invoices: a 20-digit number and no invoice code."""
        return self in _DIGITAL

    @property
    def paper(self) -> bool:
        """Paper invoices, the only ones that can be voided."""
        return self in _PAPER

    @property
    def proof(self) -> Proof:
        return _PROOF[self]

    @classmethod
    def from_code(cls, code: str) -> InvoiceType | None:
        """The type for a two-digit fplx code, or None for codes we do not issue (51, 61, 81-88, ...)."""
        if len(code) != 2 or not (code.isascii() and code.isdigit()):
            return None
        try:
            return cls(int(code))
        except ValueError:
            return None


_DIGITAL = frozenset({InvoiceType.DIGITAL_SPECIAL, InvoiceType.DIGITAL_GENERAL})
_PAPER = frozenset(
    {
        InvoiceType.VAT_SPECIAL,
        InvoiceType.FREIGHT_VAT_SPECIAL,
        InvoiceType.MOTOR_VEHICLE,
        InvoiceType.VAT_GENERAL,
        InvoiceType.VAT_GENERAL_ROLL,
        InvoiceType.USED_CAR,
    }
)
_PROOF = {
    InvoiceType.VAT_SPECIAL: Proof.AMOUNT,
    InvoiceType.FREIGHT_VAT_SPECIAL: Proof.TOTAL,
    InvoiceType.MOTOR_VEHICLE: Proof.AMOUNT,
    InvoiceType.VAT_GENERAL: Proof.CHECK_CODE,
    InvoiceType.E_VAT_SPECIAL: Proof.AMOUNT,
    InvoiceType.E_VAT_GENERAL: Proof.CHECK_CODE,
    InvoiceType.VAT_GENERAL_ROLL: Proof.CHECK_CODE,
    InvoiceType.TOLL: Proof.CHECK_CODE,
    InvoiceType.USED_CAR: Proof.TOTAL,
    InvoiceType.DIGITAL_SPECIAL: Proof.TOTAL,
    InvoiceType.DIGITAL_GENERAL: Proof.TOTAL,
}

# Types whose invoices print a 20-digit check code (校验码); the others leave it empty.
CHECK_CODE_TYPES = frozenset(t for t in InvoiceType if t.proof is Proof.CHECK_CODE)
