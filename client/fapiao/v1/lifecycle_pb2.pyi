import datetime

from fapiao.v1 import invoice_pb2 as _invoice_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TradeParty(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRADE_PARTY_UNSPECIFIED: _ClassVar[TradeParty]
    TRADE_PARTY_SELLER: _ClassVar[TradeParty]
    TRADE_PARTY_BUYER: _ClassVar[TradeParty]

class RedLetterReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RED_LETTER_REASON_UNSPECIFIED: _ClassVar[RedLetterReason]
    RED_LETTER_REASON_ISSUED_IN_ERROR: _ClassVar[RedLetterReason]
    RED_LETTER_REASON_GOODS_RETURNED: _ClassVar[RedLetterReason]
    RED_LETTER_REASON_SERVICE_TERMINATED: _ClassVar[RedLetterReason]
    RED_LETTER_REASON_SALES_DISCOUNT: _ClassVar[RedLetterReason]

class RedLetterFormState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RED_LETTER_FORM_STATE_UNSPECIFIED: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_NO_CONFIRMATION_NEEDED: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_AWAITING_BUYER: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_AWAITING_SELLER: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_CONFIRMED: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_REFUSED_BY_BUYER: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_REFUSED_BY_SELLER: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_EXPIRED: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_WITHDRAWN: _ClassVar[RedLetterFormState]
    RED_LETTER_FORM_STATE_WITHDRAWN_AFTER_CONFIRMATION: _ClassVar[RedLetterFormState]

class InvoiceEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_EVENT_TYPE_UNSPECIFIED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_ISSUED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_VOIDED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_CERTIFIED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_RED_LETTER_FORM_CONFIRMED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_RED_LETTER_FORM_REFUSED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_RED_LETTER_FORM_WITHDRAWN: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_RED_LETTER_FORM_EXPIRED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_REVERSED: _ClassVar[InvoiceEventType]
TRADE_PARTY_UNSPECIFIED: TradeParty
TRADE_PARTY_SELLER: TradeParty
TRADE_PARTY_BUYER: TradeParty
RED_LETTER_REASON_UNSPECIFIED: RedLetterReason
RED_LETTER_REASON_ISSUED_IN_ERROR: RedLetterReason
RED_LETTER_REASON_GOODS_RETURNED: RedLetterReason
RED_LETTER_REASON_SERVICE_TERMINATED: RedLetterReason
RED_LETTER_REASON_SALES_DISCOUNT: RedLetterReason
RED_LETTER_FORM_STATE_UNSPECIFIED: RedLetterFormState
RED_LETTER_FORM_STATE_NO_CONFIRMATION_NEEDED: RedLetterFormState
RED_LETTER_FORM_STATE_AWAITING_BUYER: RedLetterFormState
RED_LETTER_FORM_STATE_AWAITING_SELLER: RedLetterFormState
RED_LETTER_FORM_STATE_CONFIRMED: RedLetterFormState
RED_LETTER_FORM_STATE_REFUSED_BY_BUYER: RedLetterFormState
RED_LETTER_FORM_STATE_REFUSED_BY_SELLER: RedLetterFormState
RED_LETTER_FORM_STATE_EXPIRED: RedLetterFormState
RED_LETTER_FORM_STATE_WITHDRAWN: RedLetterFormState
RED_LETTER_FORM_STATE_WITHDRAWN_AFTER_CONFIRMATION: RedLetterFormState
INVOICE_EVENT_TYPE_UNSPECIFIED: InvoiceEventType
INVOICE_EVENT_TYPE_ISSUED: InvoiceEventType
INVOICE_EVENT_TYPE_VOIDED: InvoiceEventType
INVOICE_EVENT_TYPE_CERTIFIED: InvoiceEventType
INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED: InvoiceEventType
INVOICE_EVENT_TYPE_RED_LETTER_FORM_CONFIRMED: InvoiceEventType
INVOICE_EVENT_TYPE_RED_LETTER_FORM_REFUSED: InvoiceEventType
INVOICE_EVENT_TYPE_RED_LETTER_FORM_WITHDRAWN: InvoiceEventType
INVOICE_EVENT_TYPE_RED_LETTER_FORM_EXPIRED: InvoiceEventType
INVOICE_EVENT_TYPE_REVERSED: InvoiceEventType

class RedLetterForm(_message.Message):
    __slots__ = ("id", "original_invoice", "reason", "state", "initiator", "seller_tax_id", "buyer_tax_id", "lines", "amount_fen", "tax_fen", "total_fen", "create_time", "update_time", "expire_time", "red_invoice", "remarks")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_INVOICE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INITIATOR_FIELD_NUMBER: _ClassVar[int]
    SELLER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    TAX_FEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FEN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RED_INVOICE_FIELD_NUMBER: _ClassVar[int]
    REMARKS_FIELD_NUMBER: _ClassVar[int]
    id: str
    original_invoice: _invoice_pb2.InvoiceReference
    reason: RedLetterReason
    state: RedLetterFormState
    initiator: TradeParty
    seller_tax_id: str
    buyer_tax_id: str
    lines: _containers.RepeatedCompositeFieldContainer[_invoice_pb2.InvoiceLine]
    amount_fen: int
    tax_fen: int
    total_fen: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    red_invoice: _invoice_pb2.InvoiceReference
    remarks: str
    def __init__(self, id: _Optional[str] = ..., original_invoice: _Optional[_Union[_invoice_pb2.InvoiceReference, _Mapping]] = ..., reason: _Optional[_Union[RedLetterReason, str]] = ..., state: _Optional[_Union[RedLetterFormState, str]] = ..., initiator: _Optional[_Union[TradeParty, str]] = ..., seller_tax_id: _Optional[str] = ..., buyer_tax_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_invoice_pb2.InvoiceLine, _Mapping]]] = ..., amount_fen: _Optional[int] = ..., tax_fen: _Optional[int] = ..., total_fen: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., red_invoice: _Optional[_Union[_invoice_pb2.InvoiceReference, _Mapping]] = ..., remarks: _Optional[str] = ...) -> None: ...

class InvoiceEvent(_message.Message):
    __slots__ = ("id", "event_type", "invoice", "seller_tax_id", "buyer_tax_id", "region_code", "actor", "event_time", "reason", "state_before", "state_after", "red_letter_form_id", "form_state_before", "form_state_after", "reversed_amount_fen", "red_invoice", "cursor")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    SELLER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    STATE_AFTER_FIELD_NUMBER: _ClassVar[int]
    RED_LETTER_FORM_ID_FIELD_NUMBER: _ClassVar[int]
    FORM_STATE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    FORM_STATE_AFTER_FIELD_NUMBER: _ClassVar[int]
    REVERSED_AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    RED_INVOICE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_type: InvoiceEventType
    invoice: _invoice_pb2.InvoiceReference
    seller_tax_id: str
    buyer_tax_id: str
    region_code: str
    actor: str
    event_time: _timestamp_pb2.Timestamp
    reason: str
    state_before: _invoice_pb2.InvoiceState
    state_after: _invoice_pb2.InvoiceState
    red_letter_form_id: str
    form_state_before: RedLetterFormState
    form_state_after: RedLetterFormState
    reversed_amount_fen: int
    red_invoice: _invoice_pb2.InvoiceReference
    cursor: str
    def __init__(self, id: _Optional[str] = ..., event_type: _Optional[_Union[InvoiceEventType, str]] = ..., invoice: _Optional[_Union[_invoice_pb2.InvoiceReference, _Mapping]] = ..., seller_tax_id: _Optional[str] = ..., buyer_tax_id: _Optional[str] = ..., region_code: _Optional[str] = ..., actor: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., state_before: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ..., state_after: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ..., red_letter_form_id: _Optional[str] = ..., form_state_before: _Optional[_Union[RedLetterFormState, str]] = ..., form_state_after: _Optional[_Union[RedLetterFormState, str]] = ..., reversed_amount_fen: _Optional[int] = ..., red_invoice: _Optional[_Union[_invoice_pb2.InvoiceReference, _Mapping]] = ..., cursor: _Optional[str] = ...) -> None: ...
