"""The QR payload printed on invoices (docs/domain.md section 3).

``version,fplx,code,number,amount,YYYYMMDD,check code,tag,`` - positional, comma-separated, usually with a
trailing comma; amounts may lack trailing zeros; the tag is 4 hex digits whose meaning is unconfirmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .invoice_types import InvoiceType
from .money import format_yuan, parse_yuan

QR_VERSION = "01"
MAX_PAYLOAD_LENGTH = 512
_TAG = re.compile(r"^[0-9A-Fa-f]{4}$")
_FIELD_NAMES = ("version", "type", "invoice code", "invoice number", "amount", "date", "check code", "tag")


@dataclass(frozen=True, slots=True)
class QrPayload:
    invoice_type: InvoiceType
    invoice_code: str
    invoice_number: str
    amount_fen: int
    issue_date: date
    check_code: str
    tag: str


def _field(index: int) -> str:
    return f"field {index + 1} ({_FIELD_NAMES[index]})"


def parse_qr_payload(text: str) -> QrPayload:
    """Split and type the payload's fields. Identifier rules are checked later, as for any verification."""
    if len(text) > MAX_PAYLOAD_LENGTH:
        raise ValueError(f"longer than {MAX_PAYLOAD_LENGTH} characters; not an invoice QR payload")
    fields = [f.strip() for f in text.strip().split(",")]
    if fields and fields[-1] == "" and len(fields) > 7:
        fields.pop()  # the customary trailing comma
    if len(fields) not in (7, 8):
        raise ValueError(f"has {len(fields)} fields; an invoice QR payload has 7 or 8")
    version, fplx, code, number, amount, day, check_code, *rest = fields
    if version != QR_VERSION:
        raise ValueError(f"{_field(0)} is {version!r}; only version {QR_VERSION} is known")
    invoice_type = InvoiceType.from_code(fplx)
    if invoice_type is None:
        raise ValueError(f"{_field(1)} {fplx!r} is not an invoice type this register issues")
    try:
        amount_fen = parse_yuan(amount)
    except ValueError:
        raise ValueError(f"{_field(4)} {amount!r} is not an amount in yuan") from None
    try:
        issue_date = date(int(day[0:4]), int(day[4:6]), int(day[6:8])) if re.fullmatch(r"[0-9]{8}", day) else None
    except ValueError:
        issue_date = None
    if issue_date is None:
        raise ValueError(f"{_field(5)} {day!r} is not a date YYYYMMDD")
    tag = rest[0] if rest else ""
    if tag and not _TAG.fullmatch(tag):
        raise ValueError(f"{_field(7)} {tag!r} is not 4 hex digits")
    return QrPayload(invoice_type, code, number, amount_fen, issue_date, check_code, tag.upper())


def format_qr_payload(payload: QrPayload) -> str:
    """The payload as printed, trailing comma included."""
    return ",".join(
        (
            QR_VERSION,
            payload.invoice_type.code,
            payload.invoice_code,
            payload.invoice_number,
            format_yuan(payload.amount_fen, trim=True),
            payload.issue_date.strftime("%Y%m%d"),
            payload.check_code,
            payload.tag,
            "",
        )
    )
