from fapiao.v1 import invoice_pb2 as _invoice_pb2
from google.type import date_pb2 as _date_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvoiceGrouping(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_GROUPING_UNSPECIFIED: _ClassVar[InvoiceGrouping]
    INVOICE_GROUPING_TYPE: _ClassVar[InvoiceGrouping]
    INVOICE_GROUPING_STATE: _ClassVar[InvoiceGrouping]
    INVOICE_GROUPING_MONTH: _ClassVar[InvoiceGrouping]
    INVOICE_GROUPING_REGION: _ClassVar[InvoiceGrouping]
INVOICE_GROUPING_UNSPECIFIED: InvoiceGrouping
INVOICE_GROUPING_TYPE: InvoiceGrouping
INVOICE_GROUPING_STATE: InvoiceGrouping
INVOICE_GROUPING_MONTH: InvoiceGrouping
INVOICE_GROUPING_REGION: InvoiceGrouping

class SummarizeInvoicesRequest(_message.Message):
    __slots__ = ("seller_tax_id", "buyer_tax_id", "region_code", "start_date", "end_date", "state", "invoice_type", "group_by")
    SELLER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    seller_tax_id: str
    buyer_tax_id: str
    region_code: str
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    state: _invoice_pb2.InvoiceState
    invoice_type: _invoice_pb2.InvoiceType
    group_by: _containers.RepeatedScalarFieldContainer[InvoiceGrouping]
    def __init__(self, seller_tax_id: _Optional[str] = ..., buyer_tax_id: _Optional[str] = ..., region_code: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., state: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ..., invoice_type: _Optional[_Union[_invoice_pb2.InvoiceType, str]] = ..., group_by: _Optional[_Iterable[_Union[InvoiceGrouping, str]]] = ...) -> None: ...

class InvoiceTotals(_message.Message):
    __slots__ = ("invoice_type", "state", "month", "region_code", "invoice_count", "amount_fen", "tax_fen", "total_fen")
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_COUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    TAX_FEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FEN_FIELD_NUMBER: _ClassVar[int]
    invoice_type: _invoice_pb2.InvoiceType
    state: _invoice_pb2.InvoiceState
    month: str
    region_code: str
    invoice_count: int
    amount_fen: int
    tax_fen: int
    total_fen: int
    def __init__(self, invoice_type: _Optional[_Union[_invoice_pb2.InvoiceType, str]] = ..., state: _Optional[_Union[_invoice_pb2.InvoiceState, str]] = ..., month: _Optional[str] = ..., region_code: _Optional[str] = ..., invoice_count: _Optional[int] = ..., amount_fen: _Optional[int] = ..., tax_fen: _Optional[int] = ..., total_fen: _Optional[int] = ...) -> None: ...

class SummarizeInvoicesResponse(_message.Message):
    __slots__ = ("groups", "total")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[InvoiceTotals]
    total: InvoiceTotals
    def __init__(self, groups: _Optional[_Iterable[_Union[InvoiceTotals, _Mapping]]] = ..., total: _Optional[_Union[InvoiceTotals, _Mapping]] = ...) -> None: ...
