"""How invoices are stored in the cache: msgpack round trips, negative entries, corrupt entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import msgspec
import pytest

from fapiao_server.cache.codec import ABSENT, CorruptEntry, decode, encode
from fapiao_server.domain.invoice import (
    Invoice,
    InvoiceLine,
    InvoiceReference,
    InvoiceSignature,
    InvoiceState,
    Party,
    VehicleDetails,
)
from fapiao_server.domain.invoice_types import InvoiceType

SHANGHAI = timezone(timedelta(hours=8))


def full_invoice() -> Invoice:
    issued = datetime(2025, 6, 18, 10, 15, 30, 123456, tzinfo=SHANGHAI)
    return Invoice(
        id=9_000_000_001,
        invoice_type=InvoiceType.MOTOR_VEHICLE,
        invoice_code="131002520001",
        invoice_number="03630024",
        issue_date=date(2025, 6, 18),
        issue_time=issued,
        state=InvoiceState.PARTIALLY_REVERSED,
        seller=Party(
            "9144030071526726XG",
            "深圳某某汽车销售有限公司",
            "深圳市科技园南路1号",
            "0755-12345678",
            "招商银行深圳分行",
            "755912345678901",
        ),
        buyer=Party("91110108551385082Q", "北京某某科技有限公司"),
        amount_fen=20_000_000,
        tax_fen=2_600_000,
        total_fen=22_600_000,
        region_code="3100",
        update_time=datetime(2025, 7, 1, 0, 0, tzinfo=UTC),
        lines=(
            InvoiceLine(
                1, "*机动车*轿车", 20_000_000, 1300, 2_600_000, "1090305000000000000", "A4L", "辆", "1", "200000.00"
            ),
            InvoiceLine(2, "*机动车*附件", 0, 1300, 0),
        ),
        check_code="",
        qr_payload="01,03,131002520001,03630024,200000,20250618,,BE2D,",
        remarks="备注",
        issuer_name="张伟",
        payee_name="王芳",
        reviewer_name="李娜",
        original_invoice=InvoiceReference(41, InvoiceType.MOTOR_VEHICLE, "131002520001", "03630001"),
        red_letter_invoices=(
            InvoiceReference(43, InvoiceType.MOTOR_VEHICLE, "131002520001", "03630025"),
            InvoiceReference(44, InvoiceType.DIGITAL_GENERAL, "", "25442000000014209621"),
        ),
        reversed_amount_fen=5_000_000,
        red_letter_form_id="44030025061800012345",
        certify_time=issued + timedelta(days=3),
        void_time=issued + timedelta(days=4),
        vehicle=VehicleDetails("LFV2A21K5G3012345", "奥迪A4L", "轿车", "沪A12345"),
        signature=InvoiceSignature("1548e80ea977028b", bytes(range(64))),
    )


def test_full_invoice_round_trips() -> None:
    invoice = full_invoice()
    decoded = decode(encode(invoice))
    assert decoded == invoice
    assert decoded.invoice_type is InvoiceType.MOTOR_VEHICLE
    assert decoded.state is InvoiceState.PARTIALLY_REVERSED
    assert isinstance(decoded.lines, tuple) and isinstance(decoded.red_letter_invoices, tuple)
    assert decoded.signature == InvoiceSignature("1548e80ea977028b", bytes(range(64)))  # answers carry it from cache
    assert decoded.original_invoice == invoice.original_invoice
    assert decoded.vehicle == invoice.vehicle


def test_timestamps_keep_their_instant() -> None:
    decoded = decode(encode(full_invoice()))
    assert decoded.issue_time == datetime(2025, 6, 18, 2, 15, 30, 123456, tzinfo=UTC)
    assert decoded.issue_time.utcoffset() is not None
    assert decoded.certify_time == full_invoice().certify_time


def test_minimal_invoice_round_trips() -> None:
    invoice = full_invoice()
    minimal = Invoice(
        id=1,
        invoice_type=InvoiceType.DIGITAL_GENERAL,
        invoice_code="",
        invoice_number="25442000000014209621",
        issue_date=invoice.issue_date,
        issue_time=invoice.issue_time,
        state=InvoiceState.ISSUED,
        seller=invoice.seller,
        buyer=Party("", "张伟"),
        amount_fen=-100,
        tax_fen=-13,
        total_fen=-113,
        region_code="4400",
        update_time=invoice.update_time,
    )
    decoded = decode(encode(minimal))
    assert decoded == minimal
    assert decoded.original_invoice is None and decoded.vehicle is None and decoded.void_time is None


def test_negative_entry() -> None:
    assert encode(None) == ABSENT
    assert decode(ABSENT) is None
    assert encode(full_invoice()) != ABSENT


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\xc1",
        b"\x00",
        b"--",
        encode(full_invoice())[:-3],
        msgspec.msgpack.encode([1, 2, 3]),
        msgspec.msgpack.encode({"id": 1}),
        msgspec.msgpack.encode({**msgspec.to_builtins(full_invoice()), "invoice_type": 99}),
        msgspec.msgpack.encode({**msgspec.to_builtins(full_invoice()), "state": "VOIDED"}),
    ],
)
def test_corrupt_bytes_raise_corrupt_entry(value: bytes) -> None:
    with pytest.raises(CorruptEntry):
        decode(value)


def test_corrupt_entry_is_a_value_error() -> None:
    assert issubclass(CorruptEntry, ValueError)
