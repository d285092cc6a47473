"""Exact money: yuan strings <-> integer fen, bounds, and half-up tax (docs/domain.md section 6)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fapiao_server.domain.money import MAX_ABS_FEN, check_fen, format_yuan, parse_yuan, tax_fen

RATES = (0, 100, 300, 500, 600, 900, 1300)
fen = st.integers(min_value=-MAX_ABS_FEN, max_value=MAX_ABS_FEN)
# Small amounts hit the half-fen boundary often; large ones exercise the whole range.
amounts = st.one_of(
    st.integers(min_value=-10_000, max_value=10_000), st.integers(min_value=-(10**13), max_value=10**13)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64.9", 6490),
        ("112", 11200),
        ("-3.05", -305),
        ("94339.62", 9433962),
        ("0", 0),
        ("0.5", 50),
        ("0.05", 5),
        ("-0.01", -1),
        ("1.10", 110),
        ("9999999999999.99", MAX_ABS_FEN),
        ("-9999999999999.99", -MAX_ABS_FEN),
    ],
)
def test_parse_yuan(text: str, expected: int) -> None:
    assert parse_yuan(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1.234",
        "1e3",
        "abc",
        "",
        "NaN",
        "Infinity",
        "1.",
        ".5",
        "+1",
        "--1",
        "-",
        "1,000",
        "1 000",
        "0x10",
        "1.2.3",
        "10000000000000",  # 14 whole digits: above the bound
    ],
)
def test_parse_yuan_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount in yuan"):
        parse_yuan(text)


@pytest.mark.parametrize("text", ["６４.９", "١٢"])
def test_parse_yuan_rejects_non_ascii_digits(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)


@pytest.mark.parametrize(
    ("amount", "full", "trimmed"),
    [
        (6490, "64.90", "64.9"),
        (11200, "112.00", "112"),
        (-305, "-3.05", "-3.05"),
        (0, "0.00", "0"),
        (5, "0.05", "0.05"),
        (50, "0.50", "0.5"),
        (-1, "-0.01", "-0.01"),
        (1000, "10.00", "10"),
        (100000, "1000.00", "1000"),
        (-100, "-1.00", "-1"),
    ],
)
def test_format_yuan(amount: int, full: str, trimmed: str) -> None:
    assert format_yuan(amount) == full
    assert format_yuan(amount, trim=True) == trimmed


@given(fen)
def test_format_then_parse_round_trips(amount: int) -> None:
    assert parse_yuan(format_yuan(amount)) == amount
    assert parse_yuan(format_yuan(amount, trim=True)) == amount


def test_check_fen_bounds() -> None:
    assert MAX_ABS_FEN == 10**15 - 1
    assert check_fen(MAX_ABS_FEN) == MAX_ABS_FEN
    assert check_fen(-MAX_ABS_FEN) == -MAX_ABS_FEN
    assert check_fen(0) == 0
    with pytest.raises(ValueError):
        check_fen(MAX_ABS_FEN + 1)
    with pytest.raises(ValueError):
        check_fen(-MAX_ABS_FEN - 1)


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (10000, 1300, 1300),
        (50, 1300, 7),  # 6.5 -> 7
        (-50, 1300, -7),  # -6.5 -> -7: away from zero
        (150, 300, 5),  # 4.5 -> 5
        (149, 300, 4),  # 4.47 -> 4
        (-149, 300, -4),
        (8334, 600, 500),  # 500.04 -> 500
        (8325, 600, 500),  # 499.5 -> 500
        (8324, 600, 499),  # 499.44 -> 499
        (123456, 0, 0),
        (1, 1300, 0),  # 0.13 -> 0
        (4, 1300, 1),  # 0.52 -> 1
    ],
)
def test_tax_fen_rounds_half_up(amount: int, rate: int, expected: int) -> None:
    assert tax_fen(amount, rate) == expected


@given(amounts, st.sampled_from(RATES))
def test_tax_fen_equals_decimal_half_up(amount: int, rate: int) -> None:
    exact = Decimal(amount * rate) / Decimal(10_000)
    assert tax_fen(amount, rate) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(amounts, st.sampled_from(RATES))
def test_tax_fen_is_odd(amount: int, rate: int) -> None:
    assert tax_fen(-amount, rate) == -tax_fen(amount, rate)
