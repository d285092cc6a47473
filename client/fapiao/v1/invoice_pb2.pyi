import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvoiceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_TYPE_UNSPECIFIED: _ClassVar[InvoiceType]
    INVOICE_TYPE_VAT_SPECIAL: _ClassVar[InvoiceType]
    INVOICE_TYPE_FREIGHT_VAT_SPECIAL: _ClassVar[InvoiceType]
    INVOICE_TYPE_MOTOR_VEHICLE: _ClassVar[InvoiceType]
    INVOICE_TYPE_VAT_GENERAL: _ClassVar[InvoiceType]
    INVOICE_TYPE_E_VAT_SPECIAL: _ClassVar[InvoiceType]
    INVOICE_TYPE_E_VAT_GENERAL: _ClassVar[InvoiceType]
    INVOICE_TYPE_VAT_GENERAL_ROLL: _ClassVar[InvoiceType]
    INVOICE_TYPE_TOLL: _ClassVar[InvoiceType]
    INVOICE_TYPE_USED_CAR: _ClassVar[InvoiceType]
    INVOICE_TYPE_DIGITAL_SPECIAL: _ClassVar[InvoiceType]
    INVOICE_TYPE_DIGITAL_GENERAL: _ClassVar[InvoiceType]

class InvoiceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATE_UNSPECIFIED: _ClassVar[InvoiceState]
    INVOICE_STATE_ISSUED: _ClassVar[InvoiceState]
    INVOICE_STATE_VOIDED: _ClassVar[InvoiceState]
    INVOICE_STATE_PARTIALLY_REVERSED: _ClassVar[InvoiceState]
    INVOICE_STATE_FULLY_REVERSED: _ClassVar[InvoiceState]

class InvoiceView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_VIEW_UNSPECIFIED: _ClassVar[InvoiceView]
    INVOICE_VIEW_BASIC: _ClassVar[InvoiceView]
    INVOICE_VIEW_FULL: _ClassVar[InvoiceView]
INVOICE_TYPE_UNSPECIFIED: InvoiceType
INVOICE_TYPE_VAT_SPECIAL: InvoiceType
INVOICE_TYPE_FREIGHT_VAT_SPECIAL: InvoiceType
INVOICE_TYPE_MOTOR_VEHICLE: InvoiceType
INVOICE_TYPE_VAT_GENERAL: InvoiceType
INVOICE_TYPE_E_VAT_SPECIAL: InvoiceType
INVOICE_TYPE_E_VAT_GENERAL: InvoiceType
INVOICE_TYPE_VAT_GENERAL_ROLL: InvoiceType
INVOICE_TYPE_TOLL: InvoiceType
INVOICE_TYPE_USED_CAR: InvoiceType
INVOICE_TYPE_DIGITAL_SPECIAL: InvoiceType
INVOICE_TYPE_DIGITAL_GENERAL: InvoiceType
INVOICE_STATE_UNSPECIFIED: InvoiceState
INVOICE_STATE_ISSUED: InvoiceState
INVOICE_STATE_VOIDED: InvoiceState
INVOICE_STATE_PARTIALLY_REVERSED: InvoiceState
INVOICE_STATE_FULLY_REVERSED: InvoiceState
INVOICE_VIEW_UNSPECIFIED: InvoiceView
INVOICE_VIEW_BASIC: InvoiceView
INVOICE_VIEW_FULL: InvoiceView

class Party(_message.Message):
    __slots__ = ("tax_id", "name", "address", "phone", "bank_name", "bank_account")
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    BANK_NAME_FIELD_NUMBER: _ClassVar[int]
    BANK_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    tax_id: str
    name: str
    address: str
    phone: str
    bank_name: str
    bank_account: str
    def __init__(self, tax_id: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., phone: _Optional[str] = ..., bank_name: _Optional[str] = ..., bank_account: _Optional[str] = ...) -> None: ...

class InvoiceLine(_message.Message):
    __slots__ = ("line_number", "item_name", "tax_classification_code", "specification", "unit", "quantity", "unit_price", "amount_fen", "tax_rate_basis_points", "tax_fen")
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ITEM_NAME_FIELD_NUMBER: _ClassVar[int]
    TAX_CLASSIFICATION_CODE_FIELD_NUMBER: _ClassVar[int]
    SPECIFICATION_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    TAX_RATE_BASIS_POINTS_FIELD_NUMBER: _ClassVar[int]
    TAX_FEN_FIELD_NUMBER: _ClassVar[int]
    line_number: int
    item_name: str
    tax_classification_code: str
    specification: str
    unit: str
    quantity: str
    unit_price: str
    amount_fen: int
    tax_rate_basis_points: int
    tax_fen: int
    def __init__(self, line_number: _Optional[int] = ..., item_name: _Optional[str] = ..., tax_classification_code: _Optional[str] = ..., specification: _Optional[str] = ..., unit: _Optional[str] = ..., quantity: _Optional[str] = ..., unit_price: _Optional[str] = ..., amount_fen: _Optional[int] = ..., tax_rate_basis_points: _Optional[int] = ..., tax_fen: _Optional[int] = ...) -> None: ...

class InvoiceReference(_message.Message):
    __slots__ = ("id", "invoice_type", "invoice_code", "invoice_number")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    id: str
    invoice_type: InvoiceType
    invoice_code: str
    invoice_number: str
    def __init__(self, id: _Optional[str] = ..., invoice_type: _Optional[_Union[InvoiceType, str]] = ..., invoice_code: _Optional[str] = ..., invoice_number: _Optional[str] = ...) -> None: ...

class VehicleDetails(_message.Message):
    __slots__ = ("vin", "brand_model", "vehicle_type", "license_plate")
    VIN_FIELD_NUMBER: _ClassVar[int]
    BRAND_MODEL_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LICENSE_PLATE_FIELD_NUMBER: _ClassVar[int]
    vin: str
    brand_model: str
    vehicle_type: str
    license_plate: str
    def __init__(self, vin: _Optional[str] = ..., brand_model: _Optional[str] = ..., vehicle_type: _Optional[str] = ..., license_plate: _Optional[str] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("id", "invoice_type", "invoice_code", "invoice_number", "issue_date", "issue_time", "state", "seller", "buyer", "lines", "amount_fen", "tax_fen", "total_fen", "check_code", "qr_payload", "region_code", "remarks", "issuer_name", "payee_name", "reviewer_name", "red_letter", "original_invoice", "red_letter_invoices", "reversed_amount_fen", "red_letter_form_id", "certify_time", "void_time", "update_time", "vehicle", "signature")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_CODE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUE_DATE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SELLER_FIELD_NUMBER: _ClassVar[int]
    BUYER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    TAX_FEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FEN_FIELD_NUMBER: _ClassVar[int]
    CHECK_CODE_FIELD_NUMBER: _ClassVar[int]
    QR_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    REMARKS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYEE_NAME_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_NAME_FIELD_NUMBER: _ClassVar[int]
    RED_LETTER_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_INVOICE_FIELD_NUMBER: _ClassVar[int]
    RED_LETTER_INVOICES_FIELD_NUMBER: _ClassVar[int]
    REVERSED_AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    RED_LETTER_FORM_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    VOID_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    id: str
    invoice_type: InvoiceType
    invoice_code: str
    invoice_number: str
    issue_date: _date_pb2.Date
    issue_time: _timestamp_pb2.Timestamp
    state: InvoiceState
    seller: Party
    buyer: Party
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLine]
    amount_fen: int
    tax_fen: int
    total_fen: int
    check_code: str
    qr_payload: str
    region_code: str
    remarks: str
    issuer_name: str
    payee_name: str
    reviewer_name: str
    red_letter: bool
    original_invoice: InvoiceReference
    red_letter_invoices: _containers.RepeatedCompositeFieldContainer[InvoiceReference]
    reversed_amount_fen: int
    red_letter_form_id: str
    certify_time: _timestamp_pb2.Timestamp
    void_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    vehicle: VehicleDetails
    signature: InvoiceSignature
    def __init__(self, id: _Optional[str] = ..., invoice_type: _Optional[_Union[InvoiceType, str]] = ..., invoice_code: _Optional[str] = ..., invoice_number: _Optional[str] = ..., issue_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[InvoiceState, str]] = ..., seller: _Optional[_Union[Party, _Mapping]] = ..., buyer: _Optional[_Union[Party, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[InvoiceLine, _Mapping]]] = ..., amount_fen: _Optional[int] = ..., tax_fen: _Optional[int] = ..., total_fen: _Optional[int] = ..., check_code: _Optional[str] = ..., qr_payload: _Optional[str] = ..., region_code: _Optional[str] = ..., remarks: _Optional[str] = ..., issuer_name: _Optional[str] = ..., payee_name: _Optional[str] = ..., reviewer_name: _Optional[str] = ..., red_letter: _Optional[bool] = ..., original_invoice: _Optional[_Union[InvoiceReference, _Mapping]] = ..., red_letter_invoices: _Optional[_Iterable[_Union[InvoiceReference, _Mapping]]] = ..., reversed_amount_fen: _Optional[int] = ..., red_letter_form_id: _Optional[str] = ..., certify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., void_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., vehicle: _Optional[_Union[VehicleDetails, _Mapping]] = ..., signature: _Optional[_Union[InvoiceSignature, _Mapping]] = ...) -> None: ...

class InvoiceSignature(_message.Message):
    __slots__ = ("key_id", "signature")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    signature: bytes
    def __init__(self, key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...
