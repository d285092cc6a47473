"""Builders for request messages, so callers need not assemble protos by hand."""

from __future__ import annotations

from datetime import date

from google.type.date_pb2 import Date

from fapiao.v1 import verification_service_pb2 as pb


def _date(value: date | str) -> Date:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return Date(year=day.year, month=day.month, day=day.day)


def verify_request(
    *,
    invoice_number: str,
    issue_date: date | str,
    invoice_code: str = "",
    check_code: str | None = None,
    amount_fen: int | None = None,
    total_fen: int | None = None,
    invoice_type: int = 0,
) -> pb.VerifyInvoiceRequest:
    """A VerifyInvoiceRequest. Give exactly the one field the invoice's type is verified with: ``check_code``
    (general invoices), ``amount_fen`` (special VAT, motor vehicle) or ``total_fen`` (freight, used car, 数电).
    The register validates everything and says which fields are wrong."""
    given = [name for name, value in (("check_code", check_code), ("amount_fen", amount_fen),
                                       ("total_fen", total_fen)) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise ValueError(f"give one of check_code, amount_fen, total_fen, not {' and '.join(given)}")
    request = pb.VerifyInvoiceRequest(
        invoice_code=invoice_code,
        invoice_number=invoice_number,
        issue_date=_date(issue_date),
        invoice_type=invoice_type,  # type: ignore[arg-type]
    )
    if check_code is not None:
        request.check_code = check_code
    elif amount_fen is not None:
        request.amount_fen = amount_fen
    elif total_fen is not None:
        request.total_fen = total_fen
    return request


def batch_item(item: pb.VerifyInvoiceRequest | str) -> pb.BatchVerifyItem:
    """A batch item from a request message, or from a QR payload string."""
    if isinstance(item, str):
        return pb.BatchVerifyItem(qr_code=pb.VerifyQrCodeRequest(payload=item))
    return pb.BatchVerifyItem(invoice=item)
