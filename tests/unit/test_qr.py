"""The QR payload printed on invoices (docs/domain.md section 3)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.money import MAX_ABS_FEN
from fapiao_server.domain.qr import MAX_PAYLOAD_LENGTH, QrPayload, format_qr_payload, parse_qr_payload

LEGACY_GENERAL = "01,10,011001605111,80100798,64.9,20161018,85342965681116380258,BE2D,"
LEGACY_SPECIAL = "01,01,1200154130,03630024,94339.62,20160621,,9335,"
DIGITAL = "01,32,,23442000000014209621,112,20230215,,74AE"


def test_legacy_general_example() -> None:
    assert parse_qr_payload(LEGACY_GENERAL) == QrPayload(
        invoice_type=InvoiceType.E_VAT_GENERAL,
        invoice_code="011001605111",
        invoice_number="80100798",
        amount_fen=6490,
        issue_date=date(2016, 10, 18),
        check_code="85342965681116380258",
        tag="BE2D",
    )


def test_legacy_special_example_has_no_check_code() -> None:
    assert parse_qr_payload(LEGACY_SPECIAL) == QrPayload(
        invoice_type=InvoiceType.VAT_SPECIAL,
        invoice_code="1200154130",
        invoice_number="03630024",
        amount_fen=9433962,
        issue_date=date(2016, 6, 21),
        check_code="",
        tag="9335",
    )


def test_digital_example_has_no_code_no_check_code_and_no_trailing_comma() -> None:
    assert parse_qr_payload(DIGITAL) == QrPayload(
        invoice_type=InvoiceType.DIGITAL_GENERAL,
        invoice_code="",
        invoice_number="23442000000014209621",
        amount_fen=11200,
        issue_date=date(2023, 2, 15),
        check_code="",
        tag="74AE",
    )


def test_tag_may_be_absent_or_lower_case() -> None:
    assert parse_qr_payload("01,32,,23442000000014209621,112,20230215,").tag == ""
    assert parse_qr_payload("01,32,,23442000000014209621,112,20230215,,74ae,").tag == "74AE"


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_qr_payload(f" {LEGACY_SPECIAL}\n") == parse_qr_payload(LEGACY_SPECIAL)


@pytest.mark.parametrize("text", [LEGACY_GENERAL, LEGACY_SPECIAL])
def test_format_reproduces_the_printed_payload(text: str) -> None:
    assert format_qr_payload(parse_qr_payload(text)) == text


def test_format_adds_the_trailing_comma() -> None:
    assert format_qr_payload(parse_qr_payload(DIGITAL)) == DIGITAL + ","


payloads = st.builds(
    QrPayload,
    invoice_type=st.sampled_from(InvoiceType),
    invoice_code=st.sampled_from(["", "1200154130", "011001605111"]),
    invoice_number=st.sampled_from(["03630024", "23442000000014209621"]),
    amount_fen=st.integers(min_value=-MAX_ABS_FEN, max_value=MAX_ABS_FEN),
    issue_date=st.dates(min_value=date(1000, 1, 1)),
    check_code=st.sampled_from(["", "85342965681116380258"]),
    tag=st.sampled_from(["", "BE2D", "0000", "FFFF"]),
)


@given(payloads)
def test_format_then_parse_round_trips(payload: QrPayload) -> None:
    assert parse_qr_payload(format_qr_payload(payload)) == payload


@pytest.mark.parametrize("version", ["02", "00", "1", "", "001"])
def test_unknown_version(version: str) -> None:
    with pytest.raises(ValueError, match=r"field 1 \(version\)"):
        parse_qr_payload(version + LEGACY_SPECIAL[2:])


@pytest.mark.parametrize("fplx", ["51", "61", "81", "99", "00", "05", "1", "001", "", "xx"])
def test_unknown_type(fplx: str) -> None:
    with pytest.raises(ValueError, match=r"field 2 \(type\)"):
        parse_qr_payload(f"01,{fplx},1200154130,03630024,94339.62,20160621,,9335,")


@pytest.mark.parametrize("day", ["20160230", "20161301", "2016062", "201606211", "2016-06-21", "", "abcdefgh"])
def test_bad_date(day: str) -> None:
    with pytest.raises(ValueError, match=r"field 6 \(date\)"):
        parse_qr_payload(f"01,01,1200154130,03630024,94339.62,{day},,9335,")


@pytest.mark.parametrize("amount", ["94339.625", "1e3", "abc", "", "NaN", "94339.6.2", "+1"])
def test_bad_amount(amount: str) -> None:
    with pytest.raises(ValueError, match=r"field 5 \(amount\)"):
        parse_qr_payload(f"01,01,1200154130,03630024,{amount},20160621,,9335,")


@pytest.mark.parametrize("tag", ["93G5", "933", "93355", "93 5"])
def test_bad_tag(tag: str) -> None:
    with pytest.raises(ValueError, match=r"field 8 \(tag\)"):
        parse_qr_payload(f"01,01,1200154130,03630024,94339.62,20160621,,{tag},")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "01",
        "01,01,1200154130,03630024,94339.62,20160621",
        "01,01,1200154130,03630024,94339.62,20160621,,9335,extra",
        "01,01,1200154130,03630024,94339.62,20160621,,9335,,",
    ],
)
def test_wrong_field_count(text: str) -> None:
    with pytest.raises(ValueError, match="7 or 8"):
        parse_qr_payload(text)


def test_over_long_payload() -> None:
    padded = LEGACY_SPECIAL + " " * (MAX_PAYLOAD_LENGTH - len(LEGACY_SPECIAL))
    assert parse_qr_payload(padded) == parse_qr_payload(LEGACY_SPECIAL)
    with pytest.raises(ValueError, match="longer than"):
        parse_qr_payload(padded + " ")


@pytest.mark.parametrize(
    "text",
    [
        "01,０１,1200154130,03630024,94339.62,20160621,,9335,",
        "01,01,1200154130,03630024,94339.62,２０１６０６２１,,9335,",
    ],
)
def test_non_ascii_digits_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_qr_payload(text)
