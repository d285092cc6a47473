import datetime

from fapiao.v1 import invoice_pb2 as _invoice_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.type import date_pb2 as _date_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerificationOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_OUTCOME_UNSPECIFIED: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_MATCH: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_MISMATCH: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_NOT_FOUND: _ClassVar[VerificationOutcome]

class VerificationChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_CHANNEL_UNSPECIFIED: _ClassVar[VerificationChannel]
    VERIFICATION_CHANNEL_SINGLE: _ClassVar[VerificationChannel]
    VERIFICATION_CHANNEL_QR_CODE: _ClassVar[VerificationChannel]
    VERIFICATION_CHANNEL_BATCH: _ClassVar[VerificationChannel]
VERIFICATION_OUTCOME_UNSPECIFIED: VerificationOutcome
VERIFICATION_OUTCOME_MATCH: VerificationOutcome
VERIFICATION_OUTCOME_MISMATCH: VerificationOutcome
VERIFICATION_OUTCOME_NOT_FOUND: VerificationOutcome
VERIFICATION_CHANNEL_UNSPECIFIED: VerificationChannel
VERIFICATION_CHANNEL_SINGLE: VerificationChannel
VERIFICATION_CHANNEL_QR_CODE: VerificationChannel
VERIFICATION_CHANNEL_BATCH: VerificationChannel

class VerifyInvoiceRequest(_message.Message):
    __slots__ = ("invoice_code", "invoice_number", "issue_date", "check_code", "amount_fen", "total_fen", "invoice_type", "with_receipt")
    INVOICE_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUE_DATE_FIELD_NUMBER: _ClassVar[int]
    CHECK_CODE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FEN_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    WITH_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    invoice_code: str
    invoice_number: str
    issue_date: _date_pb2.Date
    check_code: str
    amount_fen: int
    total_fen: int
    invoice_type: _invoice_pb2.InvoiceType
    with_receipt: bool
    def __init__(self, invoice_code: _Optional[str] = ..., invoice_number: _Optional[str] = ..., issue_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., check_code: _Optional[str] = ..., amount_fen: _Optional[int] = ..., total_fen: _Optional[int] = ..., invoice_type: _Optional[_Union[_invoice_pb2.InvoiceType, str]] = ..., with_receipt: _Optional[bool] = ...) -> None: ...

class VerifyInvoiceResponse(_message.Message):
    __slots__ = ("outcome", "invoice", "mismatched_fields", "verification_id", "verify_time", "verifications_left_today", "receipt")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    MISMATCHED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    VERIFICATIONS_LEFT_TODAY_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    outcome: VerificationOutcome
    invoice: _invoice_pb2.Invoice
    mismatched_fields: _containers.RepeatedScalarFieldContainer[str]
    verification_id: str
    verify_time: _timestamp_pb2.Timestamp
    verifications_left_today: int
    receipt: VerificationReceipt
    def __init__(self, outcome: _Optional[_Union[VerificationOutcome, str]] = ..., invoice: _Optional[_Union[_invoice_pb2.Invoice, _Mapping]] = ..., mismatched_fields: _Optional[_Iterable[str]] = ..., verification_id: _Optional[str] = ..., verify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verifications_left_today: _Optional[int] = ..., receipt: _Optional[_Union[VerificationReceipt, _Mapping]] = ...) -> None: ...

class VerificationReceipt(_message.Message):
    __slots__ = ("body", "key_id", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    key_id: str
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class VerifyQrCodeRequest(_message.Message):
    __slots__ = ("payload", "with_receipt")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    WITH_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    payload: str
    with_receipt: bool
    def __init__(self, payload: _Optional[str] = ..., with_receipt: _Optional[bool] = ...) -> None: ...

class VerifyQrCodeResponse(_message.Message):
    __slots__ = ("decoded_request", "verification")
    DECODED_REQUEST_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    decoded_request: VerifyInvoiceRequest
    verification: VerifyInvoiceResponse
    def __init__(self, decoded_request: _Optional[_Union[VerifyInvoiceRequest, _Mapping]] = ..., verification: _Optional[_Union[VerifyInvoiceResponse, _Mapping]] = ...) -> None: ...

class BatchVerifyItem(_message.Message):
    __slots__ = ("invoice", "qr_code")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    invoice: VerifyInvoiceRequest
    qr_code: VerifyQrCodeRequest
    def __init__(self, invoice: _Optional[_Union[VerifyInvoiceRequest, _Mapping]] = ..., qr_code: _Optional[_Union[VerifyQrCodeRequest, _Mapping]] = ...) -> None: ...

class BatchVerifyInvoicesRequest(_message.Message):
    __slots__ = ("items", "view")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BatchVerifyItem]
    view: _invoice_pb2.InvoiceView
    def __init__(self, items: _Optional[_Iterable[_Union[BatchVerifyItem, _Mapping]]] = ..., view: _Optional[_Union[_invoice_pb2.InvoiceView, str]] = ...) -> None: ...

class BatchVerifyResult(_message.Message):
    __slots__ = ("index", "verification", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    verification: VerifyInvoiceResponse
    error: _status_pb2.Status
    def __init__(self, index: _Optional[int] = ..., verification: _Optional[_Union[VerifyInvoiceResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class BatchVerifyInvoicesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchVerifyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchVerifyResult, _Mapping]]] = ...) -> None: ...

class VerificationRecord(_message.Message):
    __slots__ = ("id", "verify_time", "caller", "channel", "invoice_type", "invoice_code", "invoice_number", "issue_date", "outcome", "mismatched_fields", "invoice_state")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUE_DATE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MISMATCHED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    INVOICE_STATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    verify_time: _timestamp_pb2.Timestamp
    caller: str
    channel: VerificationChannel
    invoice_type: _invoice_pb2.InvoiceType
    invoice_code: str
    invoice_number: str
    issue_date: _date_pb2.Date
    outcome: VerificationOutcome
    mismatched_fields: _containers.RepeatedScalarFieldContainer[str]
    invoice_state: _invoice_pb2.InvoiceState
    def __init__(self, id: _Optional[str] = ..., verify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., caller: _Optional[str] = ..., channel: _Optional[_Union[VerificationChannel, str]] = ..., invoice_type: _Optional[_Union[_invoice_pb2.InvoiceType, str]] = ..., invoice_code: _Optional[str] = ..., invoice_number: _Optional[str] = ..., issue_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., outcome: _Optional[_Union[VerificationOutcome, str]] = ..., mismatched_fields: _Optional[_Iterable[str]] = ..., invoice_state: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ...) -> None: ...

class ListVerificationRecordsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "invoice_code", "invoice_number", "start_time", "end_time", "outcome")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INVOICE_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    invoice_code: str
    invoice_number: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    outcome: VerificationOutcome
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., invoice_code: _Optional[str] = ..., invoice_number: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[VerificationOutcome, str]] = ...) -> None: ...

class ListVerificationRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[VerificationRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[VerificationRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
