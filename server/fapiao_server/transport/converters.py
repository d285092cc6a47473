"""Conversions between the fapiao.v1 protos and domain values; the only module that knows both."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cachetools import LRUCache
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date

from fapiao.v1 import invoice_pb2 as pb_invoice
from fapiao.v1 import register_key_service_pb2 as pb_keys
from fapiao.v1 import verification_service_pb2 as pb

from ..domain.errors import Violations
from ..domain.invoice import Invoice, InvoiceLine, InvoiceReference, Party
from ..domain.signing import PublishedKey
from ..domain.verification import (
    QrRequest,
    Verification,
    VerificationOutcome,
    VerificationRecord,
    VerificationRequest,
)
from ..services.ports import RecordFilter


def _timestamp(instant: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant)
    return stamp


def _date(day: date) -> Date:
    return Date(year=day.year, month=day.month, day=day.day)


def verification_request(message: pb.VerifyInvoiceRequest) -> VerificationRequest:
    proof_field = message.WhichOneof("proof")
    day = message.issue_date
    return VerificationRequest(
        invoice_code=message.invoice_code,
        invoice_number=message.invoice_number,
        issue_date=(day.year, day.month, day.day),
        proof=None if proof_field is None else (proof_field, getattr(message, proof_field)),
        invoice_type=message.invoice_type,
    )


def verification_request_message(request: VerificationRequest) -> pb.VerifyInvoiceRequest:
    """The proto form of a request (what a QR payload decoded to)."""
    year, month, day = request.issue_date
    message = pb.VerifyInvoiceRequest(
        invoice_code=request.invoice_code,
        invoice_number=request.invoice_number,
        issue_date=Date(year=year, month=month, day=day),
        invoice_type=request.invoice_type,  # type: ignore[arg-type]
    )
    if request.proof is not None:
        name, value = request.proof
        setattr(message, name, value)
    return message


def batch_item(message: pb.BatchVerifyItem) -> VerificationRequest | QrRequest:
    if message.WhichOneof("item") == "qr_code":
        return QrRequest(message.qr_code.payload)
    # An empty item verifies as an empty request and is refused field by field like any other.
    return verification_request(message.invoice)


def _party(party: Party, view: int) -> pb_invoice.Party:
    if view == BASIC:
        return pb_invoice.Party(tax_id=party.tax_id, name=party.name)
    return pb_invoice.Party(
        tax_id=party.tax_id,
        name=party.name,
        address=party.address,
        phone=party.phone,
        bank_name=party.bank_name,
        bank_account=party.bank_account,
    )


def line_message(line: InvoiceLine) -> pb_invoice.InvoiceLine:
    return pb_invoice.InvoiceLine(
        line_number=line.line_number,
        item_name=line.item_name,
        tax_classification_code=line.tax_classification_code,
        specification=line.specification,
        unit=line.unit,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount_fen=line.amount_fen,
        tax_rate_basis_points=line.tax_rate_basis_points,
        tax_fen=line.tax_fen,
    )


def reference_message(ref: InvoiceReference) -> pb_invoice.InvoiceReference:
    return pb_invoice.InvoiceReference(
        id=str(ref.id),
        invoice_type=ref.invoice_type.value,  # type: ignore[arg-type]
        invoice_code=ref.invoice_code,
        invoice_number=ref.invoice_number,
    )


BASIC, FULL = pb_invoice.INVOICE_VIEW_BASIC, pb_invoice.INVOICE_VIEW_FULL


def invoice_message(invoice: Invoice, view: int = FULL) -> pb_invoice.Invoice:
    """The proto form of an invoice, whole (FULL) or without lines and contact details (BASIC)."""
    message = pb_invoice.Invoice(
        id=str(invoice.id),
        invoice_type=invoice.invoice_type.value,  # type: ignore[arg-type]
        invoice_code=invoice.invoice_code,
        invoice_number=invoice.invoice_number,
        issue_date=_date(invoice.issue_date),
        issue_time=_timestamp(invoice.issue_time),
        state=invoice.state.value,  # type: ignore[arg-type]
        seller=_party(invoice.seller, view),
        buyer=_party(invoice.buyer, view),
        amount_fen=invoice.amount_fen,
        tax_fen=invoice.tax_fen,
        total_fen=invoice.total_fen,
        check_code=invoice.check_code,
        region_code=invoice.region_code,
        red_letter=invoice.red_letter,
        red_letter_invoices=[reference_message(ref) for ref in invoice.red_letter_invoices],
        reversed_amount_fen=invoice.reversed_amount_fen,
        red_letter_form_id=invoice.red_letter_form_id,
        update_time=_timestamp(invoice.update_time),
    )
    if invoice.original_invoice is not None:
        message.original_invoice.CopyFrom(reference_message(invoice.original_invoice))
    if invoice.certify_time is not None:
        message.certify_time.FromDatetime(invoice.certify_time)
    if invoice.void_time is not None:
        message.void_time.FromDatetime(invoice.void_time)
    if view == BASIC:
        return message
    message.lines.extend(line_message(line) for line in invoice.lines)
    message.qr_payload, message.remarks = invoice.qr_payload, invoice.remarks
    message.issuer_name, message.payee_name, message.reviewer_name = (
        invoice.issuer_name,
        invoice.payee_name,
        invoice.reviewer_name,
    )
    if invoice.vehicle is not None:
        vehicle = invoice.vehicle
        message.vehicle.vin, message.vehicle.brand_model = vehicle.vin, vehicle.brand_model
        message.vehicle.vehicle_type, message.vehicle.license_plate = vehicle.vehicle_type, vehicle.license_plate
    if invoice.signature is not None:
        message.signature.key_id, message.signature.signature = invoice.signature.key_id, invoice.signature.signature
    return message


class InvoiceMessages:
    """Serialized invoice messages, built once per invoice version and view and reused: building one field by
    field costs tens of microseconds, merging its bytes into an answer about one. An invoice's version is its
    (id, update_time, state); every change to an invoice moves update_time (a database trigger sees to it)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._built: LRUCache[tuple[int, datetime, int, int], bytes] = LRUCache(max_entries)

    def serialized(self, invoice: Invoice, view: int) -> bytes:
        key = (invoice.id, invoice.update_time, invoice.state.value, view)
        data = self._built.get(key)
        if data is None:
            data = invoice_message(invoice, view).SerializeToString()
            self._built[key] = data
        return data

    def verify_response(self, verification: Verification, view: int = FULL) -> pb.VerifyInvoiceResponse:
        record = verification.record
        response = pb.VerifyInvoiceResponse(
            outcome=record.outcome.value,  # type: ignore[arg-type]
            mismatched_fields=record.mismatched_fields,
            verification_id=str(record.id),
            verify_time=_timestamp(record.verify_time),
        )
        if verification.invoice is not None:
            response.invoice.MergeFromString(self.serialized(verification.invoice, view))
        if verification.verifications_left is not None:
            response.verifications_left_today = verification.verifications_left
        if verification.receipt is not None:
            signed = verification.receipt
            response.receipt.body, response.receipt.key_id = signed.body, signed.key_id
            response.receipt.signature = signed.signature
        return response


def signing_key_message(key: PublishedKey) -> pb_keys.SigningKey:
    message = pb_keys.SigningKey(
        key_id=key.key_id,
        algorithm=key.algorithm,
        public_key=key.public_key,
        activate_time=_timestamp(key.activate_time),
    )
    if key.retire_time is not None:
        message.retire_time.FromDatetime(key.retire_time)
    return message


def _instant(message: pb.ListVerificationRecordsRequest, field: str, problems: Violations) -> datetime | None:
    if not message.HasField(field):
        return None
    try:
        return getattr(message, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        problems.add(field, "is not a valid timestamp (years 1-9999, nanos below 10^9)")
        return None


def record_filter(message: pb.ListVerificationRecordsRequest) -> RecordFilter:
    problems = Violations()
    outcome = None
    if message.outcome:
        try:
            outcome = VerificationOutcome(message.outcome)
        except ValueError:
            problems.add("outcome", f"{message.outcome} is not a verification outcome")
    where = RecordFilter(
        invoice_code=message.invoice_code or None,
        invoice_number=message.invoice_number or None,
        outcome=outcome,
        start_time=_instant(message, "start_time", problems),
        end_time=_instant(message, "end_time", problems),
    )
    problems.raise_if_any("INVALID_RECORD_FILTER")
    return where


def record_message(record: VerificationRecord) -> pb.VerificationRecord:
    return pb.VerificationRecord(
        id=str(record.id),
        verify_time=_timestamp(record.verify_time),
        caller=record.caller,
        channel=record.channel.value,  # type: ignore[arg-type]
        invoice_type=0 if record.invoice_type is None else record.invoice_type.value,  # type: ignore[arg-type]
        invoice_code=record.key.invoice_code,
        invoice_number=record.key.invoice_number,
        issue_date=_date(record.issue_date),
        outcome=record.outcome.value,  # type: ignore[arg-type]
        mismatched_fields=record.mismatched_fields,
        invoice_state=0 if record.invoice_state is None else record.invoice_state.value,  # type: ignore[arg-type]
    )
