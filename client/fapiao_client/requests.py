"""Builders for request messages, so callers need not assemble protos by hand."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any, TypeVar, cast

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.type.date_pb2 import Date

from fapiao.v1 import invoice_pb2, invoice_service_pb2, lifecycle_pb2, report_service_pb2
from fapiao.v1 import verification_service_pb2 as pb

M = TypeVar("M", bound=Message)
# A contract enum as protoc's stubs declare it: a subclass of int.
E = TypeVar("E", bound=int)


def _date(value: date | str) -> Date:
    try:
        day = date.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD") from None
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
    with_receipt: bool = False,
) -> pb.VerifyInvoiceRequest:
    """A VerifyInvoiceRequest. Give exactly the one field the invoice's type is verified with: ``check_code``
    (general invoices), ``amount_fen`` (special VAT, motor vehicle) or ``total_fen`` (freight, used car, 数电).
    The register validates everything and says which fields are wrong. ``with_receipt`` asks for a signed
    receipt of the answer (see :func:`fapiao_client.verify_receipt`)."""
    given = [name for name, value in (("check_code", check_code), ("amount_fen", amount_fen),
                                       ("total_fen", total_fen)) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise ValueError(f"give one of check_code, amount_fen, total_fen, not {' and '.join(given)}")
    request = pb.VerifyInvoiceRequest(
        invoice_code=invoice_code,
        invoice_number=invoice_number,
        issue_date=_date(issue_date),
        invoice_type=invoice_type,  # type: ignore[arg-type]
        with_receipt=with_receipt,
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


# --- the invoice lifecycle ---------------------------------------------------------------------------------

InvoiceLike = invoice_service_pb2.InvoiceSelector | invoice_pb2.Invoice | invoice_pb2.InvoiceReference | str
SELECTOR_SYNTAX = "CODE:NUMBER (a legacy invoice) or NUMBER (a 20-digit 数电 number)"


def invoice_selector(invoice: InvoiceLike) -> invoice_service_pb2.InvoiceSelector:
    """The InvoiceSelector naming ``invoice``: a selector as it is; an Invoice or InvoiceReference (as an answer
    returns them) by its register id; a string ``"CODE:NUMBER"`` for a legacy invoice (10 or 12-digit code,
    8-digit number) or ``"NUMBER"`` for a 数电 invoice (20 digits, no code). To name one by a register id you
    hold as text, pass ``InvoiceSelector(id=...)``."""
    if isinstance(invoice, invoice_service_pb2.InvoiceSelector):
        return invoice
    if isinstance(invoice, invoice_pb2.Invoice | invoice_pb2.InvoiceReference):
        return invoice_service_pb2.InvoiceSelector(id=invoice.id)
    code, _, number = invoice.strip().rpartition(":")
    if not (number.isascii() and number.isdigit() and len(number) in (8, 20)):
        raise ValueError(f"{invoice!r}: the number must be 8 digits (legacy) or 20 (数电); write {SELECTOR_SYNTAX}")
    if code and not (code.isascii() and code.isdigit() and len(code) in (10, 12)):
        raise ValueError(f"{invoice!r}: the code must be 10 or 12 digits; write {SELECTOR_SYNTAX}")
    if len(number) == 8 and not code:
        raise ValueError(f"{invoice!r}: an 8-digit number needs its invoice code; write CODE:NUMBER")
    if len(number) == 20 and code:
        raise ValueError(f"{invoice!r}: a 20-digit 数电 number has no invoice code; write the number alone")
    return invoice_service_pb2.InvoiceSelector(invoice_code=code, invoice_number=number)


def enum_value(enum: type[E], value: int | str) -> E:
    """A value of a contract enum from its number, its name or its name without the prefix, in any case and with
    ``-`` for ``_``: ``enum_value(TradeParty, "seller") == TRADE_PARTY_SELLER``; "2" and 2 are 2."""
    wrapper: EnumTypeWrapper = enum  # the stubs declare the enum a class; at runtime it is its wrapper
    names: dict[str, int] = {name: number for name, number in wrapper.items() if number}
    found: int | None
    if isinstance(value, int) or value.strip().isdigit():
        found = int(value)
        if found not in names.values():
            raise _not_one_of(wrapper, value)
    else:
        wanted = value.strip().upper().replace("-", "_")
        found = names.get(wanted, names.get(_prefix(wrapper) + wanted))
        if found is None:
            raise _not_one_of(wrapper, value)
    # At runtime an enum's values are plain ints; the stubs type them as the enum, and this one was checked to be
    # one of its values.
    return cast(E, found)


def enum_label(enum: EnumTypeWrapper, number: int) -> str:
    """The short name of an enum value (``TRADE_PARTY_SELLER`` -> ``SELLER``); "" for 0 (unset)."""
    if not number:
        return ""
    try:
        return enum.Name(number).removeprefix(_prefix(enum))
    except ValueError:
        return str(number)


def _prefix(enum: EnumTypeWrapper) -> str:
    # Buf style prefixes every value with the enum's name in UPPER_SNAKE_CASE (TradeParty -> TRADE_PARTY_).
    return next(name for name, number in enum.items() if not number).removesuffix("UNSPECIFIED")


def _not_one_of(enum: EnumTypeWrapper, value: int | str) -> ValueError:
    noun = re.sub(r"(?<!^)([A-Z])", r" \1", enum.DESCRIPTOR.name).lower()  # RedLetterReason -> red letter reason
    article = "an" if noun[0] in "aeiou" else "a"
    labels = (f"{number} {enum_label(enum, number).lower().replace('_', '-')}" for number in enum.values() if number)
    return ValueError(f"{value!r} is not {article} {noun}; use one of {', '.join(labels)}")


def new_request_id() -> str:
    """A fresh idempotency key for one intended change (a UUID4)."""
    return str(uuid.uuid4())


def change_request(message_class: type[M], request_id: str = "", **fields: Any) -> M:
    """A request for a change with its ``request_id`` filled in (a fresh UUID4 unless one is given). The register
    answers a repeat of the same request with the same id with the first result, so it is safe to resend."""
    return message_class(request_id=request_id or new_request_id(), **fields)


def get_invoice_request(invoice: InvoiceLike, view: int | str = 0) -> invoice_service_pb2.GetInvoiceRequest:
    """A GetInvoiceRequest (FULL view unless ``view`` says "basic")."""
    view_value = enum_value(invoice_pb2.InvoiceView, view) if view else 0
    return invoice_service_pb2.GetInvoiceRequest(invoice=invoice_selector(invoice), view=view_value)  # type: ignore[arg-type]


def watch_request(
    invoice: InvoiceLike | None, tax_id: str = "", cursor: str = "", region_code: str = ""
) -> invoice_service_pb2.WatchInvoicesRequest:
    """A WatchInvoicesRequest for one invoice, every invoice of ``tax_id`` or every invoice of ``region_code``,
    after ``cursor``."""
    request = invoice_service_pb2.WatchInvoicesRequest(tax_id=tax_id, region_code=region_code, cursor=cursor)
    if invoice is not None:
        request.invoice.CopyFrom(invoice_selector(invoice))
    return request


def list_invoices_request(
    *,
    page_size: int = 0,
    seller_tax_id: str = "",
    buyer_tax_id: str = "",
    region_code: str = "",
    state: int | str = 0,
    invoice_type: int | str = 0,
    start_date: date | str | None = None,
    end_date: date | str | None = None,
    view: int | str = 0,
) -> invoice_service_pb2.ListInvoicesRequest:
    """A ListInvoicesRequest; enums by number or name (``state="issued"``), dates as dates or YYYY-MM-DD."""
    request = invoice_service_pb2.ListInvoicesRequest(
        page_size=page_size,
        seller_tax_id=seller_tax_id,
        buyer_tax_id=buyer_tax_id,
        region_code=region_code,
        state=enum_value(invoice_pb2.InvoiceState, state) if state else 0,  # type: ignore[arg-type]
        invoice_type=enum_value(invoice_pb2.InvoiceType, invoice_type) if invoice_type else 0,  # type: ignore[arg-type]
        view=enum_value(invoice_pb2.InvoiceView, view) if view else 0,  # type: ignore[arg-type]
    )
    if start_date is not None:
        request.start_date.CopyFrom(_date(start_date))
    if end_date is not None:
        request.end_date.CopyFrom(_date(end_date))
    return request


def list_forms_request(
    *,
    page_size: int = 0,
    seller_tax_id: str = "",
    buyer_tax_id: str = "",
    invoice: InvoiceLike | None = None,
    state: int | str = 0,
) -> invoice_service_pb2.ListRedLetterFormsRequest:
    """A ListRedLetterFormsRequest: the forms of a seller, a buyer or one invoice, optionally in one state."""
    request = invoice_service_pb2.ListRedLetterFormsRequest(
        page_size=page_size,
        seller_tax_id=seller_tax_id,
        buyer_tax_id=buyer_tax_id,
        state=enum_value(lifecycle_pb2.RedLetterFormState, state) if state else 0,  # type: ignore[arg-type]
    )
    if invoice is not None:
        request.invoice.CopyFrom(invoice_selector(invoice))
    return request


RedLetterItems = Iterable[invoice_service_pb2.RedLetterItem | tuple[int, int] | int]


def create_form_request(
    invoice: InvoiceLike,
    *,
    reason: int | str,
    initiator: int | str,
    items: RedLetterItems = (),
    remarks: str = "",
    request_id: str = "",
) -> invoice_service_pb2.CreateRedLetterFormRequest:
    """A CreateRedLetterFormRequest; ``reason`` and ``initiator`` by number or name ("goods-returned", "seller")."""
    return change_request(
        invoice_service_pb2.CreateRedLetterFormRequest,
        request_id,
        invoice=invoice_selector(invoice),
        reason=enum_value(lifecycle_pb2.RedLetterReason, reason),
        initiator=enum_value(lifecycle_pb2.TradeParty, initiator),
        items=red_letter_items(items),
        remarks=remarks,
    )


def form_answer_request(
    message_class: type[M], form_id: str, party: int | str, request_id: str = "", **fields: Any
) -> M:
    """A request by which ``party`` ("seller", "buyer") confirms, rejects or withdraws form ``form_id``."""
    return change_request(
        message_class, request_id, form_id=form_id, party=enum_value(lifecycle_pb2.TradeParty, party), **fields
    )


def red_letter_items(items: RedLetterItems) -> list[invoice_service_pb2.RedLetterItem]:
    """What a form reverses: RedLetterItems, ``(line_number, amount_fen)`` pairs, or line numbers (whole lines)."""
    result = []
    for item in items:
        if isinstance(item, int):
            item = invoice_service_pb2.RedLetterItem(line_number=item)
        elif isinstance(item, tuple):
            item = invoice_service_pb2.RedLetterItem(line_number=item[0], amount_fen=item[1])
        result.append(item)
    return result


# --- reporting ---------------------------------------------------------------------------------------------


def summarize_request(
    *,
    start_date: date | str,
    end_date: date | str,
    seller_tax_id: str = "",
    buyer_tax_id: str = "",
    region_code: str = "",
    state: int | str = 0,
    invoice_type: int | str = 0,
    group_by: Iterable[int | str] | str = (),
) -> report_service_pb2.SummarizeInvoicesRequest:
    """A SummarizeInvoicesRequest; dates as dates or YYYY-MM-DD, enums by number or name (``state="voided"``,
    ``invoice_type="04"``), ``group_by`` as groupings by number or name or as one text ``"type,month"``."""
    if isinstance(group_by, str):
        group_by = [name for name in group_by.split(",") if name.strip()]
    return report_service_pb2.SummarizeInvoicesRequest(
        seller_tax_id=seller_tax_id,
        buyer_tax_id=buyer_tax_id,
        region_code=region_code,
        start_date=_date(start_date),
        end_date=_date(end_date),
        state=enum_value(invoice_pb2.InvoiceState, state) if state else 0,  # type: ignore[arg-type]
        invoice_type=enum_value(invoice_pb2.InvoiceType, invoice_type) if invoice_type else 0,  # type: ignore[arg-type]
        group_by=[enum_value(report_service_pb2.InvoiceGrouping, grouping) for grouping in group_by],
    )
