"""The client SDK's yuan <-> fen helpers and request builders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fapiao_client.money import fen_to_yuan, yuan_to_fen
from fapiao_client.requests import verify_request


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("64.9", 6490),
        ("112", 11200),
        (" 94339.62 ", 9433962),
        ("-3.05", -305),
        ("1.230", 123),
        (112, 11200),
        (-3, -300),
        (Decimal("64.90"), 6490),
        (Decimal("-0.01"), -1),
    ],
)
def test_yuan_to_fen(yuan: str | int | Decimal, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen
    assert isinstance(yuan_to_fen(yuan), int)


@pytest.mark.parametrize("yuan", [64.9, 0.0, float("nan")])
def test_yuan_to_fen_refuses_floats(yuan: float) -> None:
    with pytest.raises(TypeError, match="never float"):
        yuan_to_fen(yuan)


@pytest.mark.parametrize("yuan", ["1.234", "0.001", "-3.055", Decimal("0.005")])
def test_yuan_to_fen_refuses_sub_fen_amounts(yuan: str | Decimal) -> None:
    with pytest.raises(ValueError, match="whole number of fen"):
        yuan_to_fen(yuan)


@pytest.mark.parametrize("yuan", ["NaN", "Infinity", "-inf", Decimal("NaN")])
def test_yuan_to_fen_refuses_non_finite(yuan: str | Decimal) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(yuan)


@pytest.mark.parametrize("yuan", ["abc", "", "1,000", "¥5"])
def test_yuan_to_fen_refuses_non_amounts(yuan: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        yuan_to_fen(yuan)


@pytest.mark.parametrize(("fen", "yuan"), [(6490, "64.90"), (-305, "-3.05"), (0, "0.00"), (-1, "-0.01"), (5, "0.05")])
def test_fen_to_yuan(fen: int, yuan: str) -> None:
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(
    ("proof", "field", "value"),
    [
        ({"check_code": "380258"}, "check_code", "380258"),
        ({"amount_fen": 9433962}, "amount_fen", 9433962),
        ({"total_fen": 11200}, "total_fen", 11200),
        ({"amount_fen": 0}, "amount_fen", 0),
        ({"check_code": ""}, "check_code", ""),
    ],
)
def test_verify_request_sets_exactly_one_proof(proof: dict[str, object], field: str, value: object) -> None:
    request = verify_request(invoice_code="1200154130", invoice_number="03630024", issue_date="2016-06-21", **proof)
    assert request.WhichOneof("proof") == field
    assert getattr(request, field) == value
    assert request.invoice_code == "1200154130"
    assert request.invoice_number == "03630024"


def test_verify_request_without_a_proof() -> None:
    request = verify_request(invoice_number="23442000000014209621", issue_date=date(2023, 2, 15))
    assert request.WhichOneof("proof") is None
    assert request.invoice_code == ""


@pytest.mark.parametrize(
    "proofs",
    [
        {"check_code": "380258", "amount_fen": 1},
        {"amount_fen": 1, "total_fen": 1},
        {"check_code": "380258", "total_fen": 0},
        {"check_code": "", "amount_fen": 0, "total_fen": 0},
    ],
)
def test_verify_request_refuses_two_proofs(proofs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="give one of"):
        verify_request(invoice_number="03630024", issue_date="2016-06-21", invoice_code="1200154130", **proofs)


@pytest.mark.parametrize("issue_date", [date(2023, 2, 15), "2023-02-15"])
def test_verify_request_dates(issue_date: date | str) -> None:
    request = verify_request(invoice_number="23442000000014209621", issue_date=issue_date, total_fen=11200)
    assert (request.issue_date.year, request.issue_date.month, request.issue_date.day) == (2023, 2, 15)


def test_verify_request_refuses_a_malformed_date_string() -> None:
    with pytest.raises(ValueError):
        verify_request(invoice_number="23442000000014209621", issue_date="2023-02-30", total_fen=11200)


def test_verify_request_carries_the_type() -> None:
    request = verify_request(
        invoice_number="23442000000014209621", issue_date="2023-02-15", total_fen=1, invoice_type=32
    )
    assert request.invoice_type == 32
