"""Invoice codes, legacy and 数电 numbers, check codes and region routing (docs/domain.md section 1)."""

from __future__ import annotations

from datetime import date

import pytest

from fapiao_server.domain.identifiers import (
    PROVINCE_CODES,
    check_code_suffix,
    check_legacy_number,
    parse_digital_number,
    parse_invoice_code,
    routing_region,
)
from fapiao_server.domain.invoice_types import InvoiceType

TODAY = date(2026, 11, 27)
HISTORIC_CODES = ("144031539110", "131001570151", "133011501118", "111001571071")


def ten_digit(kind_digit: str, *, region: str = "1100", year: str = "16") -> str:
    """A 10-digit code: region, year, one free digit, the kind digit (digit 8), two free digits."""
    return f"{region}{year}0{kind_digit}30"


def twelve_digit(
    kind_digits: str, *, first: str = "0", region: str = "1100", year: str = "16", digit8: str = "0"
) -> str:
    """A 12-digit code: first digit, region, year, digit 8, two free digits, the kind digits (11-12)."""
    return f"{first}{region}{year}{digit8}12{kind_digits}"


def test_domain_example_twelve_digit_code() -> None:
    parsed = parse_invoice_code("011001605111", TODAY)
    assert parsed.code == "011001605111"
    assert parsed.invoice_type is InvoiceType.E_VAT_GENERAL
    assert parsed.region == "1100"
    assert parsed.year == 16


def test_domain_example_ten_digit_code() -> None:
    parsed = parse_invoice_code("1200154130", TODAY)
    assert parsed.invoice_type is InvoiceType.VAT_SPECIAL
    assert parsed.region == "1200"
    assert parsed.year == 15


@pytest.mark.parametrize(
    ("digit", "expected"),
    [
        ("1", InvoiceType.VAT_SPECIAL),
        ("5", InvoiceType.VAT_SPECIAL),
        ("3", InvoiceType.VAT_GENERAL),
        ("6", InvoiceType.VAT_GENERAL),
        ("2", InvoiceType.FREIGHT_VAT_SPECIAL),
        ("7", InvoiceType.FREIGHT_VAT_SPECIAL),
    ],
)
def test_ten_digit_kind_digit(digit: str, expected: InvoiceType) -> None:
    code = ten_digit(digit)
    assert code[7] == digit
    assert parse_invoice_code(code, TODAY).invoice_type is expected


@pytest.mark.parametrize("digit", ["0", "4", "8", "9"])
def test_ten_digit_code_without_a_kind_is_invalid(digit: str) -> None:
    with pytest.raises(ValueError, match="digit 8"):
        parse_invoice_code(ten_digit(digit), TODAY)


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("04", InvoiceType.VAT_GENERAL),
        ("05", InvoiceType.VAT_GENERAL),
        ("06", InvoiceType.VAT_GENERAL_ROLL),
        ("07", InvoiceType.VAT_GENERAL_ROLL),
        ("11", InvoiceType.E_VAT_GENERAL),
        ("12", InvoiceType.TOLL),
        ("13", InvoiceType.E_VAT_SPECIAL),
        ("17", InvoiceType.USED_CAR),
    ],
)
def test_twelve_digit_kind_digits(digits: str, expected: InvoiceType) -> None:
    code = twelve_digit(digits)
    assert code[10:12] == digits
    assert parse_invoice_code(code, TODAY).invoice_type is expected


@pytest.mark.parametrize("digits", ["00", "01", "02", "03", "08", "09", "10", "14", "15", "16", "18", "99"])
def test_twelve_digit_code_without_a_kind_is_invalid(digits: str) -> None:
    with pytest.raises(ValueError, match="digits 11-12"):
        parse_invoice_code(twelve_digit(digits), TODAY)


def test_twelve_digit_vat_code_ignores_digit_8() -> None:
    # With a leading 0 the kind comes from digits 11-12 even when digit 8 is 2.
    assert parse_invoice_code(twelve_digit("04", digit8="2"), TODAY).invoice_type is InvoiceType.VAT_GENERAL


@pytest.mark.parametrize("first", list("123456789"))
def test_non_zero_first_digit_with_digit_8_of_2_is_motor_vehicle(first: str) -> None:
    code = twelve_digit("00", first=first, digit8="2")
    assert code[7] == "2"
    assert parse_invoice_code(code, TODAY).invoice_type is InvoiceType.MOTOR_VEHICLE


@pytest.mark.parametrize("digit8", list("013456789"))
def test_non_zero_first_digit_without_digit_8_of_2_is_invalid(digit8: str) -> None:
    with pytest.raises(ValueError):
        parse_invoice_code(twelve_digit("11", first="1", digit8=digit8), TODAY)


@pytest.mark.parametrize("code", HISTORIC_CODES)
def test_historic_codes_are_always_e_general(code: str) -> None:
    assert parse_invoice_code(code, TODAY).invoice_type is InvoiceType.E_VAT_GENERAL


def test_historic_codes_would_not_follow_the_kind_rule() -> None:
    # So the exception list is what makes them valid: the same shape one digit off is rejected.
    with pytest.raises(ValueError):
        parse_invoice_code("144031539111", TODAY)


def test_historic_code_region_and_routing() -> None:
    parsed = parse_invoice_code("133011501118", TODAY)
    assert (parsed.region, parsed.year, parsed.routing_region) == ("3301", 15, "3300")
    assert parse_invoice_code("144031539110", TODAY).routing_region == "4403"


@pytest.mark.parametrize("code", [ten_digit("1", year="00"), twelve_digit("11", year="00")])
def test_year_00_is_invalid(code: str) -> None:
    with pytest.raises(ValueError, match="year"):
        parse_invoice_code(code, TODAY)


@pytest.mark.parametrize(
    "make", [lambda y: ten_digit("1", year=y), lambda y: twelve_digit("11", year=y)], ids=["10-digit", "12-digit"]
)
def test_year_later_than_today_is_invalid(make) -> None:
    assert parse_invoice_code(make("26"), TODAY).year == 26
    with pytest.raises(ValueError, match="later than the current year"):
        parse_invoice_code(make("27"), TODAY)
    assert parse_invoice_code(make("27"), date(2027, 1, 1)).year == 27


@pytest.mark.parametrize(
    "code",
    [
        "",
        "120015413",
        "12001541300",
        "1200154130123",
        "12001541a0",
        "1200-15413",
        " 1200154130",
        "1200154130 ",
        "１２００１５４１３０",  # full-width digits
        "٠١١٠٠١٦٠٥١١١",  # Arabic-Indic digits
    ],
)
def test_non_digits_or_wrong_length_are_invalid(code: str) -> None:
    with pytest.raises(ValueError, match="10 or 12 digits"):
        parse_invoice_code(code, TODAY)


@pytest.mark.parametrize(
    "code",
    [
        ten_digit("1", region="0000"),
        ten_digit("1", region="9900"),
        ten_digit("1", region="1600"),
        twelve_digit("11", region="2400"),
        twelve_digit("11", region="7100"),
        twelve_digit("00", first="1", region="9900", digit8="2"),
    ],
)
def test_region_must_be_a_province(code: str) -> None:
    with pytest.raises(ValueError, match="province"):
        parse_invoice_code(code, TODAY)


def test_province_codes_are_the_31_mainland_divisions() -> None:
    assert len(PROVINCE_CODES) == 31
    assert {"11", "31", "44", "65"} <= PROVINCE_CODES
    assert not {"00", "71", "81", "82", "99"} & PROVINCE_CODES


@pytest.mark.parametrize(
    ("region", "routed"),
    [
        ("1100", "1100"),
        ("1101", "1100"),
        ("4401", "4400"),
        ("2101", "2100"),
        ("3301", "3300"),
        ("3501", "3500"),
        ("3701", "3700"),
        ("2102", "2102"),
        ("3302", "3302"),
        ("3502", "3502"),
        ("3702", "3702"),
        ("4403", "4403"),
        ("4402", "4400"),
    ],
)
def test_routing_region(region: str, routed: str) -> None:
    assert routing_region(region) == routed


def test_parsed_code_routes_by_its_region() -> None:
    assert parse_invoice_code(ten_digit("1", region="4403"), TODAY).routing_region == "4403"
    assert parse_invoice_code(ten_digit("1", region="4401"), TODAY).routing_region == "4400"
    assert parse_invoice_code(twelve_digit("00", first="1", region="2102", digit8="2"), TODAY).routing_region == "2102"


def test_legacy_number_is_8_digits() -> None:
    assert check_legacy_number("80100798") == "80100798"
    assert check_legacy_number("00000001") == "00000001"


@pytest.mark.parametrize("number", ["", "8010079", "801007981", "8010079a", " 8010079", "８０１００７９８"])
def test_legacy_number_rejects_anything_else(number: str) -> None:
    with pytest.raises(ValueError, match="8 digits"):
        check_legacy_number(number)


def test_digital_number_fields() -> None:
    parsed = parse_digital_number("23442000000014209621", TODAY)
    assert parsed.number == "23442000000014209621"
    assert parsed.year == 23
    assert parsed.province == "44"
    assert parsed.channel == "2"
    assert parsed.sequence == 14209621
    assert parsed.region == "4400"


@pytest.mark.parametrize(
    "number",
    [
        "",
        "2344200000001420962",
        "234420000000142096210",
        "2344200000001420962X",
        "２３４４２０００００００１４２０９６２１",
    ],
)
def test_digital_number_must_be_20_digits(number: str) -> None:
    with pytest.raises(ValueError, match="20 digits"):
        parse_digital_number(number, TODAY)


@pytest.mark.parametrize("province", ["00", "99", "71", "16"])
def test_digital_number_province_must_exist(province: str) -> None:
    with pytest.raises(ValueError, match="province"):
        parse_digital_number(f"23{province}2000000014209621", TODAY)


def test_digital_number_year() -> None:
    with pytest.raises(ValueError, match="year"):
        parse_digital_number("00442000000014209621", TODAY)
    with pytest.raises(ValueError, match="later than the current year"):
        parse_digital_number("27442000000014209621", TODAY)
    assert parse_digital_number("26442000000014209621", TODAY).year == 26


def test_check_code_suffix_accepts_last_6_or_all_20() -> None:
    assert check_code_suffix("380258") == "380258"
    assert check_code_suffix("85342965681116380258") == "380258"


@pytest.mark.parametrize(
    "check_code", ["", "38025", "3802581", "8534296568111638025", "853429656811163802581", "38025a", "３８０２５８"]
)
def test_check_code_suffix_rejects_other_shapes(check_code: str) -> None:
    with pytest.raises(ValueError, match="last 6 digits"):
        check_code_suffix(check_code)
