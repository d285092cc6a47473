"""Verification (发票查验): validating a query and judging it against the register's invoice."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from .calendar import civil_date, years_before
from .errors import FieldViolation, InvalidArgument, Violations
from .identifiers import check_code_suffix, check_legacy_number, parse_digital_number, parse_invoice_code
from .invoice import Invoice, InvoiceKey, InvoiceState
from .invoice_types import InvoiceType, Proof
from .money import check_fen
from .qr import parse_qr_payload

if TYPE_CHECKING:
    from .signing import Receipt

INVALID_QUERY = "INVALID_VERIFICATION_QUERY"
DIGITAL_TYPES = (InvoiceType.DIGITAL_SPECIAL, InvoiceType.DIGITAL_GENERAL)


class VerificationOutcome(enum.IntEnum):
    """Values equal the proto enum numbers."""

    MATCH = 1
    MISMATCH = 2
    NOT_FOUND = 3


class VerificationChannel(enum.IntEnum):
    SINGLE = 1
    QR_CODE = 2
    BATCH = 3


@dataclass(frozen=True, slots=True)
class VerificationQuery:
    """A validated verification: which invoice, its date, and the one type-specific field."""

    key: InvoiceKey
    issue_date: date
    proof: Proof
    check_code: str = ""  # last 6 digits, when proof is CHECK_CODE
    money_fen: int = 0  # when proof is AMOUNT or TOTAL
    invoice_type: InvoiceType | None = None  # None: a 数电 number asked without a type (31 or 32)


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """Configurable limits: the window of issue dates the register answers for (the platform's is 5 years)."""

    window_years: int = 5


@dataclass(frozen=True, slots=True)
class VerificationRequest:
    """A verification as asked, not yet validated.

    ``issue_date`` is (year, month, day), all 0 when missing. ``proof`` is the name and value of the one
    type-specific field that was set (``check_code``, ``amount_fen`` or ``total_fen``), or None.
    ``invoice_type`` is the fplx number, 0 when not given.
    """

    invoice_code: str
    invoice_number: str
    issue_date: tuple[int, int, int]
    proof: tuple[str, str | int] | None
    invoice_type: int = 0


@dataclass(frozen=True, slots=True)
class QrRequest:
    """A verification asked by the QR payload printed on the invoice."""

    payload: str


def build_query(request: VerificationRequest, *, today: date, policy: VerificationPolicy) -> VerificationQuery:
    """Validate a verification request; every bad field is reported at once."""
    problems = Violations()
    code, number = request.invoice_code.strip(), request.invoice_number.strip()
    asked_type = _asked_type(request.invoice_type, problems)
    if code:
        kind = _legacy_type(code, number, asked_type, today, problems)
    else:
        kind = _digital_type(number, asked_type, today, problems)
    day = _issue_date(request.issue_date, today, policy, problems)
    check_code, money = _proof(request.proof, kind, problems)
    problems.raise_if_any(INVALID_QUERY)
    assert day is not None and kind is not None
    return VerificationQuery(
        key=InvoiceKey(code, number),
        issue_date=day,
        proof=Proof.TOTAL if kind in DIGITAL_TYPES else kind.proof,
        check_code=check_code,
        money_fen=money,
        invoice_type=asked_type if kind in DIGITAL_TYPES else kind,
    )


def _asked_type(value: int, problems: Violations) -> InvoiceType | None:
    if value == 0:
        return None
    try:
        return InvoiceType(value)
    except ValueError:
        problems.add("invoice_type", f"{value} is not an invoice type this register issues")
        return None


def _legacy_type(
    code: str, number: str, asked: InvoiceType | None, today: date, problems: Violations
) -> InvoiceType | None:
    kind = None
    try:
        kind = parse_invoice_code(code, today).invoice_type
    except ValueError as error:
        problems.add("invoice_code", str(error))
    if len(number) == 20 and number.isdigit():
        problems.add("invoice_number", "a 20-digit 数电 number is verified without an invoice code")
    else:
        try:
            check_legacy_number(number)
        except ValueError as error:
            problems.add("invoice_number", str(error))
    if kind is not None and asked is not None and asked is not kind:
        problems.add("invoice_type", f"type {asked.code} disagrees with the invoice code, which is type {kind.code}")
    return kind


def _digital_type(number: str, asked: InvoiceType | None, today: date, problems: Violations) -> InvoiceType | None:
    if not number:
        problems.add("invoice_number", "required")
    elif len(number) == 8 and number.isdigit():
        problems.add("invoice_code", "required for an 8-digit invoice number (only 数电 numbers have no code)")
    else:
        try:
            parse_digital_number(number, today)
        except ValueError as error:
            problems.add("invoice_number", str(error))
    if asked is not None and asked not in DIGITAL_TYPES:
        problems.add("invoice_type", f"type {asked.code} needs an invoice code; without one only 31 or 32 apply")
        return None
    # Both 数电 types are asked the same way; which one it is is settled against the register.
    return asked or InvoiceType.DIGITAL_GENERAL


def _issue_date(
    parts: tuple[int, int, int], today: date, policy: VerificationPolicy, problems: Violations
) -> date | None:
    try:
        day = civil_date(*parts)
    except ValueError as error:
        problems.add("issue_date", str(error))
        return None
    if day > today:
        problems.add("issue_date", f"{day} is later than today ({today}, Asia/Shanghai)")
        return None
    oldest = years_before(today, policy.window_years)
    if day < oldest:
        problems.add("issue_date", f"{day} is older than the {policy.window_years}-year verification window")
        return None
    return day


def _proof(proof: tuple[str, str | int] | None, kind: InvoiceType | None, problems: Violations) -> tuple[str, int]:
    if kind is None:  # the type is unknown, so is the field it is asked with
        return "", 0
    expected = kind.proof
    label = "数电 (31, 32)" if kind.digital else f"type {kind.code}"
    if proof is None:
        problems.add(expected.value, f"required for {label} invoices")
        return "", 0
    name, value = proof
    if name != expected.value:
        problems.add(name, f"{label} invoices are verified with {expected.value}, not {name}")
        return "", 0
    try:
        if expected is Proof.CHECK_CODE:
            return check_code_suffix(str(value).strip()), 0
        return "", check_fen(int(value))
    except ValueError as error:
        problems.add(name, str(error))
        return "", 0


def judge(query: VerificationQuery, invoice: Invoice) -> tuple[VerificationOutcome, tuple[str, ...]]:
    """Compare a query with the register's invoice; names the disagreeing fields, never their values."""
    mismatched: list[str] = []
    if query.invoice_type is not None and invoice.invoice_type is not query.invoice_type:
        mismatched.append("invoice_type")
    if invoice.issue_date != query.issue_date:
        mismatched.append("issue_date")
    if query.proof is Proof.CHECK_CODE:
        if len(invoice.check_code) != 20 or invoice.check_code[-6:] != query.check_code:
            mismatched.append(Proof.CHECK_CODE.value)
    elif query.proof is Proof.AMOUNT:
        if invoice.amount_fen != query.money_fen:
            mismatched.append(Proof.AMOUNT.value)
    elif invoice.total_fen != query.money_fen:
        mismatched.append(Proof.TOTAL.value)
    if mismatched:
        return VerificationOutcome.MISMATCH, tuple(mismatched)
    return VerificationOutcome.MATCH, ()


@dataclass(frozen=True, slots=True)
class VerificationRecord:
    """What the register keeps of each verification (who, when, what, outcome)."""

    id: int
    verify_time: datetime
    caller: str
    channel: VerificationChannel
    key: InvoiceKey
    invoice_type: InvoiceType | None
    issue_date: date
    outcome: VerificationOutcome
    mismatched_fields: tuple[str, ...] = ()
    invoice_state: InvoiceState | None = None
    invoice_id: int | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """The answer to one verification: its outcome, the invoice on MATCH, the record kept of it, and how many
    more times today the caller may verify this invoice (None when the daily limit is off)."""

    record: VerificationRecord
    invoice: Invoice | None = None
    verifications_left: int | None = None

    # The signed statement of this answer (domain.signing.Receipt), when the caller asked for one.
    receipt: Receipt | None = None

    @property
    def outcome(self) -> VerificationOutcome:
        return self.record.outcome


def query_from_qr(
    text: str, *, today: date, policy: VerificationPolicy
) -> tuple[VerificationRequest, VerificationQuery]:
    """Decode a QR payload into the verification it asks for; every problem is reported on ``payload``.

    The QR's amount is used as the type's money field (amount excluding tax for 01/03/08, the total for
    02/15/31/32); for check-code types the check code is used and the amount is informational.
    """
    try:
        payload = parse_qr_payload(text)
    except ValueError as error:
        raise InvalidArgument([FieldViolation("payload", str(error))], reason=INVALID_QUERY) from None
    proof_kind = payload.invoice_type.proof
    proof: tuple[str, str | int] | None
    if proof_kind is Proof.CHECK_CODE:
        proof = (proof_kind.value, payload.check_code) if payload.check_code else None
    else:
        proof = (proof_kind.value, payload.amount_fen)
    try:
        request = VerificationRequest(
            invoice_code=payload.invoice_code,
            invoice_number=payload.invoice_number,
            issue_date=(payload.issue_date.year, payload.issue_date.month, payload.issue_date.day),
            proof=proof,
            invoice_type=payload.invoice_type.value,
        )
        query = build_query(request, today=today, policy=policy)
    except InvalidArgument as error:
        raise InvalidArgument(
            (FieldViolation("payload", f"{v.field}: {v.description}") for v in error.violations),
            reason=INVALID_QUERY,
        ) from None
    return request, query
