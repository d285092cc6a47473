"""Conversions between the InvoiceService protos and lifecycle domain values."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date

from fapiao.v1 import invoice_pb2 as pb_invoice
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import lifecycle_pb2 as pb_lifecycle

from ..domain.access import REGION_RULE, is_region
from ..domain.calendar import civil_date
from ..domain.errors import FieldViolation, InvalidArgument, Violations
from ..domain.events import InvoiceEvent
from ..domain.invoice import InvoiceKey, InvoiceState, Party, VehicleDetails
from ..domain.invoice_types import InvoiceType
from ..domain.issuing import IssueRequest, LineRequest
from ..domain.lifecycle import ActionAnswer, ReversalItem
from ..domain.red_letter import FormState, RedLetterForm
from ..domain.taxpayer import check_tax_id
from ..services.ports import EventFilter, FormFilter, InvoiceFilter, InvoiceRef
from ..services.watching import encode_cursor
from .converters import line_message, reference_message

MAX_ID_DIGITS = 18  # ids are PostgreSQL bigints


def _timestamp(instant: object) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant)
    return stamp


def _register_id(problems: Violations, field: str, value: str) -> int | None:
    if not (value.isascii() and value.isdigit() and 0 < len(value) <= MAX_ID_DIGITS) or int(value) == 0:
        problems.add(field, "must be a register id (digits, as returned in an answer)")
        return None
    return int(value)


def register_id(field: str, value: str, reason: str) -> int:
    problems = Violations()
    result = _register_id(problems, field, value)
    problems.raise_if_any(reason)
    assert result is not None
    return result


def selector(message: pb.InvoiceSelector, field: str = "invoice") -> InvoiceRef:
    """An invoice named by id, or by code and number; never both, never neither."""
    problems = Violations()
    code, number = message.invoice_code.strip(), message.invoice_number.strip()
    ref: InvoiceRef | None = None
    if message.id:
        if code or number:
            problems.add(f"{field}.id", "give the id or the code and number, not both")
        ref = _register_id(problems, f"{field}.id", message.id)
    elif not number:
        problems.add(f"{field}.invoice_number", "give the invoice's id, or its number (and code for legacy invoices)")
    else:
        if not (number.isascii() and number.isdigit() and len(number) in (8, 20)):
            problems.add(f"{field}.invoice_number", "must be 8 digits (legacy) or 20 digits (数电)")
        if code and not (code.isascii() and code.isdigit() and len(code) in (10, 12)):
            problems.add(f"{field}.invoice_code", "must be 10 or 12 digits (empty for 数电)")
        ref = InvoiceKey(code, number)
    problems.raise_if_any("INVALID_INVOICE_SELECTOR")
    assert ref is not None
    return ref


def _party(message: pb_invoice.Party) -> Party:
    return Party(
        tax_id=message.tax_id,
        name=message.name,
        address=message.address,
        phone=message.phone,
        bank_name=message.bank_name,
        bank_account=message.bank_account,
    )


def issue_request(message: pb.IssueInvoiceRequest) -> IssueRequest:
    vehicle = None
    if message.HasField("vehicle"):
        v = message.vehicle
        vehicle = VehicleDetails(
            vin=v.vin, brand_model=v.brand_model, vehicle_type=v.vehicle_type, license_plate=v.license_plate
        )
    return IssueRequest(
        invoice_type=message.invoice_type,
        seller=_party(message.seller),
        buyer=_party(message.buyer),
        lines=tuple(
            LineRequest(
                item_name=line.item_name,
                amount_fen=line.amount_fen,
                tax_rate_basis_points=line.tax_rate_basis_points,
                tax_classification_code=line.tax_classification_code,
                specification=line.specification,
                unit=line.unit,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in message.lines
        ),
        remarks=message.remarks,
        issuer_name=message.issuer_name,
        payee_name=message.payee_name,
        reviewer_name=message.reviewer_name,
        vehicle=vehicle,
    )


def tax_id_filter(problems: Violations, field: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        return check_tax_id(value)
    except ValueError as error:
        problems.add(field, str(error))
        return None


def region_filter(problems: Violations, field: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not is_region(value):
        problems.add(field, REGION_RULE)
        return None
    return value


def optional_date(problems: Violations, field: str, message: Date, present: bool) -> object:
    if not present:
        return None
    try:
        return civil_date(message.year, message.month, message.day)
    except ValueError as error:
        problems.add(field, str(error))
        return None


def state_filter(problems: Violations, value: int) -> InvoiceState | None:
    """An invoice state to filter by (0: any)."""
    if not value:
        return None
    try:
        return InvoiceState(value)
    except ValueError:
        problems.add("state", f"{value} is not an invoice state")
        return None


def type_filter(problems: Violations, value: int) -> InvoiceType | None:
    """An invoice type to filter by (0: any)."""
    if not value:
        return None
    try:
        return InvoiceType(value)
    except ValueError:
        problems.add("invoice_type", f"{value} is not an invoice type")
        return None


def invoice_filter(message: pb.ListInvoicesRequest) -> InvoiceFilter:
    problems = Violations()
    state = state_filter(problems, message.state)
    kind = type_filter(problems, message.invoice_type)
    where = InvoiceFilter(
        seller_tax_id=tax_id_filter(problems, "seller_tax_id", message.seller_tax_id),
        buyer_tax_id=tax_id_filter(problems, "buyer_tax_id", message.buyer_tax_id),
        region=region_filter(problems, "region_code", message.region_code),
        state=state,
        invoice_type=kind,
        start_date=optional_date(problems, "start_date", message.start_date, message.HasField("start_date")),  # type: ignore[arg-type]
        end_date=optional_date(problems, "end_date", message.end_date, message.HasField("end_date")),  # type: ignore[arg-type]
    )
    problems.raise_if_any("INVALID_INVOICE_FILTER")
    return where


def form_filter(message: pb.ListRedLetterFormsRequest, invoice_id: int | None) -> FormFilter:
    problems = Violations()
    state = None
    if message.state:
        try:
            state = FormState(message.state)
        except ValueError:
            problems.add("state", f"{message.state} is not a red-letter form state")
    where = FormFilter(
        seller_tax_id=tax_id_filter(problems, "seller_tax_id", message.seller_tax_id),
        buyer_tax_id=tax_id_filter(problems, "buyer_tax_id", message.buyer_tax_id),
        invoice_id=invoice_id,
        state=state,
    )
    problems.raise_if_any("INVALID_FORM_FILTER")
    return where


def reversal_items(message: pb.CreateRedLetterFormRequest) -> tuple[ReversalItem, ...]:
    return tuple(ReversalItem(item.line_number, item.amount_fen) for item in message.items)


def form_message(form: RedLetterForm) -> pb_lifecycle.RedLetterForm:
    message = pb_lifecycle.RedLetterForm(
        id=str(form.id),
        original_invoice=reference_message(form.original_invoice),
        reason=form.reason.value,  # type: ignore[arg-type]
        state=form.state.value,  # type: ignore[arg-type]
        initiator=form.initiator.value,  # type: ignore[arg-type]
        seller_tax_id=form.seller_tax_id,
        buyer_tax_id=form.buyer_tax_id,
        lines=[line_message(line) for line in form.lines],
        amount_fen=form.amount_fen,
        tax_fen=form.tax_fen,
        total_fen=form.total_fen,
        create_time=_timestamp(form.create_time),
        update_time=_timestamp(form.update_time),
        remarks=form.remarks,
    )
    if form.expire_time is not None:
        message.expire_time.CopyFrom(_timestamp(form.expire_time))
    if form.red_invoice is not None:
        message.red_invoice.CopyFrom(reference_message(form.red_invoice))
    return message


def event_message(event: InvoiceEvent) -> pb_lifecycle.InvoiceEvent:
    message = pb_lifecycle.InvoiceEvent(
        id=str(event.id),
        event_type=event.event_type.value,  # type: ignore[arg-type]
        invoice=reference_message(event.invoice),
        seller_tax_id=event.seller_tax_id,
        buyer_tax_id=event.buyer_tax_id,
        region_code=event.region_code,
        actor=event.actor,
        event_time=_timestamp(event.event_time),
        reason=event.reason,
        state_before=0 if event.state_before is None else event.state_before.value,  # type: ignore[arg-type]
        state_after=event.state_after.value,  # type: ignore[arg-type]
        red_letter_form_id="" if event.form_id is None else str(event.form_id),
        form_state_before=0 if event.form_state_before is None else event.form_state_before.value,  # type: ignore[arg-type]
        form_state_after=0 if event.form_state_after is None else event.form_state_after.value,  # type: ignore[arg-type]
        reversed_amount_fen=event.reversed_amount_fen,
        cursor=encode_cursor(event.cursor),
    )
    if event.red_invoice is not None:
        message.red_invoice.CopyFrom(reference_message(event.red_invoice))
    return message


def action_message(answer: ActionAnswer) -> pb.AllowedAction:
    message = pb.AllowedAction(
        action=answer.action.value,  # type: ignore[arg-type]
        allowed=answer.refusal is None,
        needs_confirmation=answer.needs_confirmation,
        reversible_amount_fen=answer.reversible_amount_fen,
        red_letter_form_id="" if answer.form_id is None else str(answer.form_id),
    )
    if answer.refusal is not None:
        message.refusal_reason, message.description = answer.refusal.reason, answer.refusal.message
    if answer.deadline is not None:
        message.deadline.CopyFrom(_timestamp(answer.deadline))
    return message


def watch_target(message: pb.WatchInvoicesRequest) -> InvoiceRef | EventFilter:
    """The invoice (to be looked up), or the tax id or region, a watch follows: exactly one of the three."""
    has_invoice = bool(message.invoice.id or message.invoice.invoice_number or message.invoice.invoice_code)
    tax_id, region = message.tax_id.strip(), message.region_code.strip()
    if has_invoice + bool(tax_id) + bool(region) != 1:
        raise InvalidArgument(
            [FieldViolation("tax_id", "watch exactly one of: one invoice, one tax id, one region_code")],
            reason="INVALID_WATCH",
        )
    if has_invoice:
        return selector(message.invoice)
    problems = Violations()
    checked_tax_id = tax_id_filter(problems, "tax_id", tax_id)
    checked_region = region_filter(problems, "region_code", region)
    problems.raise_if_any("INVALID_WATCH")
    return EventFilter(tax_id=checked_tax_id, region=checked_region)
