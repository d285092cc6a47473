import datetime

from fapiao.v1 import invoice_pb2 as _invoice_pb2
from fapiao.v1 import lifecycle_pb2 as _lifecycle_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvoiceAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_ACTION_UNSPECIFIED: _ClassVar[InvoiceAction]
    INVOICE_ACTION_VOID: _ClassVar[InvoiceAction]
    INVOICE_ACTION_CERTIFY: _ClassVar[InvoiceAction]
    INVOICE_ACTION_CREATE_RED_LETTER_FORM: _ClassVar[InvoiceAction]
    INVOICE_ACTION_ISSUE_RED_INVOICE: _ClassVar[InvoiceAction]
INVOICE_ACTION_UNSPECIFIED: InvoiceAction
INVOICE_ACTION_VOID: InvoiceAction
INVOICE_ACTION_CERTIFY: InvoiceAction
INVOICE_ACTION_CREATE_RED_LETTER_FORM: InvoiceAction
INVOICE_ACTION_ISSUE_RED_INVOICE: InvoiceAction

class InvoiceSelector(_message.Message):
    __slots__ = ("id", "invoice_code", "invoice_number")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    id: str
    invoice_code: str
    invoice_number: str
    def __init__(self, id: _Optional[str] = ..., invoice_code: _Optional[str] = ..., invoice_number: _Optional[str] = ...) -> None: ...

class IssueLine(_message.Message):
    __slots__ = ("item_name", "tax_classification_code", "specification", "unit", "quantity", "unit_price", "amount_fen", "tax_rate_basis_points")
    ITEM_NAME_FIELD_NUMBER: _ClassVar[int]
    TAX_CLASSIFICATION_CODE_FIELD_NUMBER: _ClassVar[int]
    SPECIFICATION_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    TAX_RATE_BASIS_POINTS_FIELD_NUMBER: _ClassVar[int]
    item_name: str
    tax_classification_code: str
    specification: str
    unit: str
    quantity: str
    unit_price: str
    amount_fen: int
    tax_rate_basis_points: int
    def __init__(self, item_name: _Optional[str] = ..., tax_classification_code: _Optional[str] = ..., specification: _Optional[str] = ..., unit: _Optional[str] = ..., quantity: _Optional[str] = ..., unit_price: _Optional[str] = ..., amount_fen: _Optional[int] = ..., tax_rate_basis_points: _Optional[int] = ...) -> None: ...

class IssueInvoiceRequest(_message.Message):
    __slots__ = ("request_id", "invoice_type", "seller", "buyer", "lines", "remarks", "issuer_name", "payee_name", "reviewer_name", "vehicle")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SELLER_FIELD_NUMBER: _ClassVar[int]
    BUYER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REMARKS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYEE_NAME_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_NAME_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice_type: _invoice_pb2.InvoiceType
    seller: _invoice_pb2.Party
    buyer: _invoice_pb2.Party
    lines: _containers.RepeatedCompositeFieldContainer[IssueLine]
    remarks: str
    issuer_name: str
    payee_name: str
    reviewer_name: str
    vehicle: _invoice_pb2.VehicleDetails
    def __init__(self, request_id: _Optional[str] = ..., invoice_type: _Optional[_Union[_invoice_pb2.InvoiceType, str]] = ..., seller: _Optional[_Union[_invoice_pb2.Party, _Mapping]] = ..., buyer: _Optional[_Union[_invoice_pb2.Party, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[IssueLine, _Mapping]]] = ..., remarks: _Optional[str] = ..., issuer_name: _Optional[str] = ..., payee_name: _Optional[str] = ..., reviewer_name: _Optional[str] = ..., vehicle: _Optional[_Union[_invoice_pb2.VehicleDetails, _Mapping]] = ...) -> None: ...

class IssueInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _invoice_pb2.Invoice
    def __init__(self, invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ...) -> None: ...

class GetInvoiceRequest(_message.Message):
    __slots__ = ("invoice", "view")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    invoice: InvoiceSelector
    view: _invoice_pb2.InvoiceView
    def __init__(self, invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ..., view: _Optional[_Union[_invoice_pb2.InvoiceView, str]] = ...) -> None: ...

class GetInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _invoice_pb2.Invoice
    def __init__(self, invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ...) -> None: ...

class ListInvoicesRequest(_message.Message):
    __slots__ = ("seller_tax_id", "buyer_tax_id", "region_code", "state", "invoice_type", "start_date", "end_date", "page_size", "page_token", "view")
    SELLER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    seller_tax_id: str
    buyer_tax_id: str
    region_code: str
    state: _invoice_pb2.InvoiceState
    invoice_type: _invoice_pb2.InvoiceType
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    page_size: int
    page_token: str
    view: _invoice_pb2.InvoiceView
    def __init__(self, seller_tax_id: _Optional[str] = ..., buyer_tax_id: _Optional[str] = ..., region_code: _Optional[str] = ..., state: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ..., invoice_type: _Optional[_Union[_invoice_pb2.InvoiceType, str]] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view: _Optional[_Union[_invoice_pb2.InvoiceView, str]] = ...) -> None: ...

class ListInvoicesResponse(_message.Message):
    __slots__ = ("invoices", "next_page_token")
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoices: _containers.RepeatedCompositeFieldContainer[_invoice_pb2.Invoice]
    next_page_token: str
    def __init__(self, invoices: _Optional[_Iterable[_Union[_invoice_pb2.Invoice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VoidInvoiceRequest(_message.Message):
    __slots__ = ("request_id", "invoice", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice: InvoiceSelector
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class VoidInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _invoice_pb2.Invoice
    def __init__(self, invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ...) -> None: ...

class CertifyInvoiceRequest(_message.Message):
    __slots__ = ("request_id", "invoice")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice: InvoiceSelector
    def __init__(self, request_id: _Optional[str] = ..., invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ...) -> None: ...

class CertifyInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _invoice_pb2.Invoice
    def __init__(self, invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ...) -> None: ...

class ReportTaxPeriodRequest(_message.Message):
    __slots__ = ("request_id", "tax_id", "year", "month")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tax_id: str
    year: int
    month: int
    def __init__(self, request_id: _Optional[str] = ..., tax_id: _Optional[str] = ..., year: _Optional[int] = ..., month: _Optional[int] = ...) -> None: ...

class ReportTaxPeriodResponse(_message.Message):
    __slots__ = ("report_time",)
    REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    report_time: _timestamp_pb2.Timestamp
    def __init__(self, report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AllowedAction(_message.Message):
    __slots__ = ("action", "allowed", "refusal_reason", "description", "deadline", "needs_confirmation", "reversible_amount_fen", "red_letter_form_id")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    NEEDS_CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
    REVERSIBLE_AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    RED_LETTER_FORM_ID_FIELD_NUMBER: _ClassVar[int]
    action: InvoiceAction
    allowed: bool
    refusal_reason: str
    description: str
    deadline: _timestamp_pb2.Timestamp
    needs_confirmation: bool
    reversible_amount_fen: int
    red_letter_form_id: str
    def __init__(self, action: _Optional[_Union[InvoiceAction, str]] = ..., allowed: _Optional[bool] = ..., refusal_reason: _Optional[str] = ..., description: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., needs_confirmation: _Optional[bool] = ..., reversible_amount_fen: _Optional[int] = ..., red_letter_form_id: _Optional[str] = ...) -> None: ...

class GetAllowedActionsRequest(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: InvoiceSelector
    def __init__(self, invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ...) -> None: ...

class GetAllowedActionsResponse(_message.Message):
    __slots__ = ("state", "actions")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    state: _invoice_pb2.InvoiceState
    actions: _containers.RepeatedCompositeFieldContainer[AllowedAction]
    def __init__(self, state: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ..., actions: _Optional[_Iterable[_Union[AllowedAction, _Mapping]]] = ...) -> None: ...

class ListInvoiceEventsRequest(_message.Message):
    __slots__ = ("invoice", "page_size", "page_token")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoice: InvoiceSelector
    page_size: int
    page_token: str
    def __init__(self, invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvoiceEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_lifecycle_pb2.InvoiceEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_lifecycle_pb2.InvoiceEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchInvoicesRequest(_message.Message):
    __slots__ = ("invoice", "tax_id", "region_code", "cursor")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    invoice: InvoiceSelector
    tax_id: str
    region_code: str
    cursor: str
    def __init__(self, invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ..., tax_id: _Optional[str] = ..., region_code: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class WatchInvoicesResponse(_message.Message):
    __slots__ = ("events", "cursor")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_lifecycle_pb2.InvoiceEvent]
    cursor: str
    def __init__(self, events: _Optional[_Iterable[_Union[_lifecycle_pb2.InvoiceEvent, _Mapping]]] = ..., cursor: _Optional[str] = ...) -> None: ...

class RedLetterItem(_message.Message):
    __slots__ = ("line_number", "amount_fen")
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    line_number: int
    amount_fen: int
    def __init__(self, line_number: _Optional[int] = ..., amount_fen: _Optional[int] = ...) -> None: ...

class CreateRedLetterFormRequest(_message.Message):
    __slots__ = ("request_id", "invoice", "reason", "initiator", "items", "remarks")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INITIATOR_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    REMARKS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice: InvoiceSelector
    reason: _lifecycle_pb2.RedLetterReason
    initiator: _lifecycle_pb2.TradeParty
    items: _containers.RepeatedCompositeFieldContainer[RedLetterItem]
    remarks: str
    def __init__(self, request_id: _Optional[str] = ..., invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ..., reason: _Optional[_Union[_lifecycle_pb2.RedLetterReason, str]] = ..., initiator: _Optional[_Union[_lifecycle_pb2.TradeParty, str]] = ..., items: _Optional[_Iterable[_Union[RedLetterItem, _Mapping]]] = ..., remarks: _Optional[str] = ...) -> None: ...

class CreateRedLetterFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: _lifecycle_pb2.RedLetterForm
    def __init__(self, form: _Optional[_Union[_lifecycle_pb2.RedLetterForm, _Mapping]] = ...) -> None: ...

class ConfirmRedLetterFormRequest(_message.Message):
    __slots__ = ("request_id", "form_id", "party")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    form_id: str
    party: _lifecycle_pb2.TradeParty
    def __init__(self, request_id: _Optional[str] = ..., form_id: _Optional[str] = ..., party: _Optional[_Union[_lifecycle_pb2.TradeParty, str]] = ...) -> None: ...

class ConfirmRedLetterFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: _lifecycle_pb2.RedLetterForm
    def __init__(self, form: _Optional[_Union[_lifecycle_pb2.RedLetterForm, _Mapping]] = ...) -> None: ...

class RejectRedLetterFormRequest(_message.Message):
    __slots__ = ("request_id", "form_id", "party", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    form_id: str
    party: _lifecycle_pb2.TradeParty
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., form_id: _Optional[str] = ..., party: _Optional[_Union[_lifecycle_pb2.TradeParty, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectRedLetterFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: _lifecycle_pb2.RedLetterForm
    def __init__(self, form: _Optional[_Union[_lifecycle_pb2.RedLetterForm, _Mapping]] = ...) -> None: ...

class WithdrawRedLetterFormRequest(_message.Message):
    __slots__ = ("request_id", "form_id", "party", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    form_id: str
    party: _lifecycle_pb2.TradeParty
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., form_id: _Optional[str] = ..., party: _Optional[_Union[_lifecycle_pb2.TradeParty, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class WithdrawRedLetterFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: _lifecycle_pb2.RedLetterForm
    def __init__(self, form: _Optional[_Union[_lifecycle_pb2.RedLetterForm, _Mapping]] = ...) -> None: ...

class GetRedLetterFormRequest(_message.Message):
    __slots__ = ("form_id",)
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    def __init__(self, form_id: _Optional[str] = ...) -> None: ...

class GetRedLetterFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: _lifecycle_pb2.RedLetterForm
    def __init__(self, form: _Optional[_Union[_lifecycle_pb2.RedLetterForm, _Mapping]] = ...) -> None: ...

class ListRedLetterFormsRequest(_message.Message):
    __slots__ = ("seller_tax_id", "buyer_tax_id", "invoice", "state", "page_size", "page_token")
    SELLER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    seller_tax_id: str
    buyer_tax_id: str
    invoice: InvoiceSelector
    state: _lifecycle_pb2.RedLetterFormState
    page_size: int
    page_token: str
    def __init__(self, seller_tax_id: _Optional[str] = ..., buyer_tax_id: _Optional[str] = ..., invoice: _Optional[_Union[InvoiceSelector, _Mapping]] = ..., state: _Optional[_Union[_lifecycle_pb2.RedLetterFormState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRedLetterFormsResponse(_message.Message):
    __slots__ = ("forms", "next_page_token")
    FORMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    forms: _containers.RepeatedCompositeFieldContainer[_lifecycle_pb2.RedLetterForm]
    next_page_token: str
    def __init__(self, forms: _Optional[_Iterable[_Union[_lifecycle_pb2.RedLetterForm, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class IssueRedInvoiceRequest(_message.Message):
    __slots__ = ("request_id", "form_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    form_id: str
    def __init__(self, request_id: _Optional[str] = ..., form_id: _Optional[str] = ...) -> None: ...

class IssueRedInvoiceResponse(_message.Message):
    __slots__ = ("invoice", "original_invoice")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _invoice_pb2.Invoice
    original_invoice: _invoice_pb2.Invoice
    def __init__(self, invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ..., original_invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ...) -> None: ...
