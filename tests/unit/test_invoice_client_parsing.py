"""What the invoice SDK and CLI read from people, checked before anything is sent: the invoice file, rates and
amounts, the INVOICE syntax, enum names, red-letter lines and request ids."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from fapiao.v1 import invoice_pb2, lifecycle_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao_client import DraftError, invoice_selector, issue_request, rate_to_basis_points
from fapiao_client.cli.red_letter import line_item
from fapiao_client.drafts import issue_invoice_request, read_issue_request
from fapiao_client.money import basis_points_to_percent
from fapiao_client.requests import change_request, enum_value, list_invoices_request

SELLER = "91110108MA01ABCD0B"


def _invoice(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoice_type": "01",
        "seller": {"tax_id": SELLER, "name": "北京测试科技有限公司", "bank_account": "0200"},
        "buyer": {"tax_id": "", "name": "上海采购有限公司"},
        "lines": [{"item_name": "*软件*开发", "amount": "301.00", "tax_rate": "13%", "quantity": "2",
                   "unit_price": "150.50", "unit": "套"}],
        "remarks": "合同 42",
    }  # fmt: skip
    data.update(changes)
    return data


def _violations(data: object) -> dict[str, str]:
    with pytest.raises(DraftError) as refused:
        issue_request(data)
    return {v.field: v.description for v in refused.value.violations}


# --- the invoice file ----------------------------------------------------------------------------------------


def test_an_invoice_file_becomes_the_request_it_describes() -> None:
    request = issue_request(_invoice())
    assert request.invoice_type == invoice_pb2.INVOICE_TYPE_VAT_SPECIAL
    assert (request.seller.tax_id, request.seller.bank_account, request.buyer.name) == (
        SELLER,
        "0200",
        "上海采购有限公司",
    )
    (line,) = request.lines
    assert (line.item_name, line.amount_fen, line.tax_rate_basis_points) == ("*软件*开发", 30100, 1300)
    assert (line.quantity, line.unit_price, line.unit) == ("2", "150.50", "套")
    assert request.remarks == "合同 42" and request.request_id == ""


@pytest.mark.parametrize("kind", ["32", 32, "DIGITAL_GENERAL", "digital-general", "INVOICE_TYPE_DIGITAL_GENERAL"])
def test_invoice_types_by_code_number_or_name(kind: object) -> None:
    assert issue_request(_invoice(invoice_type=kind)).invoice_type == invoice_pb2.INVOICE_TYPE_DIGITAL_GENERAL


@pytest.mark.parametrize(
    ("line", "fen", "points"),
    [
        ({"amount": "0.30", "tax_rate": "0.06"}, 30, 600),
        ({"amount_fen": 30, "tax_rate_basis_points": 600}, 30, 600),
        ({"amount_fen": "30", "tax_rate": "6%"}, 30, 600),  # int64 as protobuf's JSON mapping writes it
        ({"amount": 112, "tax_rate": "0%"}, 11200, 0),
    ],
)
def test_amounts_and_rates_in_every_documented_spelling(line: dict[str, Any], fen: int, points: int) -> None:
    request = issue_request(_invoice(lines=[{"item_name": "x", **line}]))
    assert (request.lines[0].amount_fen, request.lines[0].tax_rate_basis_points) == (fen, points)


def test_json_numbers_are_read_exactly_never_as_floats() -> None:
    # 0.1 + 0.2 style amounts are where floats lose a fen; the file reader parses them as decimals.
    text = '{"invoice_type": 4, "seller": {"tax_id": "SELLER", "name": "s"}, "buyer": {"name": "b"},'
    text += ' "lines": [{"item_name": "x", "amount": 1.10, "tax_rate": 0.13}, {"item_name": "y", "amount": 2.20,'
    text += ' "tax_rate": "9%", "quantity": 3, "unit_price": 0.7333}]}'
    request = read_issue_request(text)
    assert request.seller.tax_id == "SELLER"
    assert [line.amount_fen for line in request.lines] == [110, 220]
    assert [line.tax_rate_basis_points for line in request.lines] == [1300, 900]
    assert (request.lines[1].quantity, request.lines[1].unit_price) == ("3", "0.7333")


def test_every_problem_is_reported_at_once_by_its_path() -> None:
    data = {
        "invoice_type": "99",
        "seller": {"tax_id": 91, "nmae": "typo"},
        "lines": [
            {"item_name": "x", "amount": "1.001", "tax_rate": "13"},
            {"amount": "1.00", "amount_fen": 100, "quantity": "-1"},
            "not a line",
        ],
        "colour": "red",
    }
    problems = _violations(data)
    assert "99" in problems["invoice_type"] and "01" not in problems["invoice_type"]
    assert problems["seller.tax_id"] == "must be a string"
    assert problems["seller.nmae"].startswith("is not a field here")
    assert "buyer" in problems and "colour" in problems
    assert "whole number of fen" in problems["lines[0].amount"]
    assert "13%" in problems["lines[0].tax_rate"]
    assert problems["lines[1].amount"] == "give amount or amount_fen, not both"
    assert problems["lines[1].tax_rate"] == "give tax_rate or tax_rate_basis_points"
    assert problems["lines[1].item_name"] == "is required"
    assert "positive decimal" in problems["lines[1].quantity"]
    assert problems["lines[2]"] == "must be a JSON object"


@pytest.mark.parametrize(
    ("line", "field", "says"),
    [
        ({"amount": 1.5}, "amount", None),  # a float from a caller's own json.loads is refused
        ({"amount": True}, "amount", "yuan as a string"),
        ({"amount": "-3.00"}, "amount", "not a positive amount"),
        ({"amount": "0"}, "amount", "not a positive amount"),
        ({"amount": None, "amount_fen": 1.0}, "amount_fen", "whole number"),
        ({"tax_rate": "thirteen"}, "tax_rate", "13% or 0.13"),
        ({"tax_rate": "0.12345"}, "tax_rate", "basis points"),
        ({"unit_price": "NaN", "quantity": "1"}, "unit_price", "positive decimal"),
    ],
)
def test_bad_amounts_and_rates_are_named(line: dict[str, Any], field: str, says: str | None) -> None:
    base = {"item_name": "x", "amount": "1.00", "tax_rate": "13%"}
    given = {key: value for key, value in {**base, **line}.items() if value is not None}
    problems = _violations(_invoice(lines=[given]))
    assert f"lines[0].{field}" in problems
    if says:
        assert says in problems[f"lines[0].{field}"]


@pytest.mark.parametrize("text", ["", "[1, 2]", "not json", "{"])
def test_a_file_that_is_not_an_invoice_object_is_refused(text: str) -> None:
    with pytest.raises(DraftError) as refused:
        read_issue_request(text)
    assert refused.value.violations[0].field == "(the file)"


def test_an_empty_object_names_what_is_required() -> None:
    assert {"invoice_type", "seller", "buyer", "lines"} <= set(_violations({}))


def test_the_request_id_to_send_is_the_given_one_else_the_files_else_fresh() -> None:
    mine, files = str(uuid.uuid4()), str(uuid.uuid4())
    assert issue_invoice_request(_invoice(request_id=files), mine).request_id == mine
    assert issue_invoice_request(_invoice(request_id=files)).request_id == files
    fresh = issue_invoice_request(_invoice()).request_id
    assert uuid.UUID(fresh).version == 4 and fresh != issue_invoice_request(_invoice()).request_id
    template = issue_request(_invoice())
    issue_invoice_request(template)
    assert template.request_id == "", "the caller's message is left as it was"


# --- rates and amounts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "points"),
    [("13%", 1300), ("0.13", 1300), (" 9 % ", 900), ("6%", 600), ("0", 0), ("0%", 0), ("1.5%", 150),
     (Decimal("0.03"), 300), (0, 0), ("100%", 10_000)],
)  # fmt: skip
def test_rate_to_basis_points(rate: str | int | Decimal, points: int) -> None:
    assert rate_to_basis_points(rate) == points


@pytest.mark.parametrize("rate", ["13", "1.5", "-1%", "101%", "0.12345", "abc", "", "%"])
def test_rates_that_are_not_rates_are_refused(rate: str) -> None:
    with pytest.raises(ValueError, match=r"rate|basis points"):
        rate_to_basis_points(rate)


def test_rates_refuse_floats() -> None:
    with pytest.raises(TypeError):
        rate_to_basis_points(0.13)  # type: ignore[arg-type]


@pytest.mark.parametrize(("points", "text"), [(1300, "13%"), (900, "9%"), (150, "1.5%"), (0, "0%"), (5, "0.05%")])
def test_basis_points_to_percent(points: int, text: str) -> None:
    assert basis_points_to_percent(points) == text


# --- naming invoices, enums, lines ---------------------------------------------------------------------------


def test_invoice_syntax() -> None:
    legacy = invoice_selector("1100231130:00001234")
    assert (legacy.invoice_code, legacy.invoice_number, legacy.id) == ("1100231130", "00001234", "")
    twelve = invoice_selector(" 011002305111:00001234 ")
    assert (twelve.invoice_code, twelve.invoice_number) == ("011002305111", "00001234")
    digital = invoice_selector("25312000000000000001")
    assert (digital.invoice_code, digital.invoice_number) == ("", "25312000000000000001")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("00001234", "needs its invoice code"),
        ("1100231130:25312000000000000001", "has no invoice code"),
        ("12:00001234", "code must be 10 or 12 digits"),
        ("1100231130:1234", "8 digits"),
        ("1100231130-00001234", "8 digits"),
        ("", "8 digits"),
        ("１１００２３１１３０:00001234", "code must be"),  # full-width digits are not digits here
    ],
)
def test_invoice_syntax_errors_say_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        invoice_selector(text)


def test_invoices_from_answers_and_selectors_are_named_by_id() -> None:
    assert invoice_selector(invoice_pb2.Invoice(id="42", invoice_number="00000001")).id == "42"
    assert invoice_selector(invoice_pb2.InvoiceReference(id="7")) == pb.InvoiceSelector(id="7")
    given = pb.InvoiceSelector(id="9")
    assert invoice_selector(given) is given


@pytest.mark.parametrize(
    ("enum", "value", "number"),
    [
        (lifecycle_pb2.TradeParty, "seller", lifecycle_pb2.TRADE_PARTY_SELLER),
        (lifecycle_pb2.TradeParty, "TRADE_PARTY_BUYER", lifecycle_pb2.TRADE_PARTY_BUYER),
        (lifecycle_pb2.RedLetterReason, "goods-returned", lifecycle_pb2.RED_LETTER_REASON_GOODS_RETURNED),
        (lifecycle_pb2.RedLetterReason, "4", lifecycle_pb2.RED_LETTER_REASON_SALES_DISCOUNT),
        (lifecycle_pb2.RedLetterReason, 1, lifecycle_pb2.RED_LETTER_REASON_ISSUED_IN_ERROR),
        (lifecycle_pb2.RedLetterFormState, "02", lifecycle_pb2.RED_LETTER_FORM_STATE_AWAITING_BUYER),
        (invoice_pb2.InvoiceState, "Partially_Reversed", invoice_pb2.INVOICE_STATE_PARTIALLY_REVERSED),
    ],
)
def test_enum_values_by_number_or_name(enum: Any, value: int | str, number: int) -> None:
    assert enum_value(enum, value) == number


@pytest.mark.parametrize("value", [0, "0", "unspecified", "5", "refund", ""])
def test_enum_values_that_are_not_values_list_the_choices(value: int | str) -> None:
    with pytest.raises(ValueError, match="is not a red letter reason; use one of 1 issued-in-error, 2 goods-returned"):
        enum_value(lifecycle_pb2.RedLetterReason, value)


@pytest.mark.parametrize(("text", "item"), [("2", (2, 0)), ("2:100.00", (2, 10000)), (" 12:0.5 ", (12, 50))])
def test_red_letter_lines(text: str, item: tuple[int, int]) -> None:
    assert line_item(text) == item


@pytest.mark.parametrize("text", ["0", "x", "-1", "2:", "2:-1", "2:0", "2:0.001", ":5", "2:abc"])
def test_red_letter_lines_that_cannot_be_read(text: str) -> None:
    with pytest.raises(ValueError, match="--line"):
        line_item(text)


# --- requests --------------------------------------------------------------------------------------------------


def test_changes_get_a_fresh_request_id_unless_given_one() -> None:
    first = change_request(pb.VoidInvoiceRequest, invoice=pb.InvoiceSelector(id="1"))
    second = change_request(pb.VoidInvoiceRequest, invoice=pb.InvoiceSelector(id="1"))
    assert uuid.UUID(first.request_id).version == 4 and first.request_id != second.request_id
    mine = str(uuid.uuid4())
    assert change_request(pb.CertifyInvoiceRequest, mine).request_id == mine


def test_list_filters_by_name_and_date() -> None:
    request = list_invoices_request(seller_tax_id=SELLER, state="voided", invoice_type="04", start_date="2026-11-01")
    assert request.state == invoice_pb2.INVOICE_STATE_VOIDED and request.invoice_type == 4
    assert (request.start_date.year, request.start_date.month, request.start_date.day) == (2026, 11, 1)
    assert not request.HasField("end_date")
    with pytest.raises(ValueError, match="not a date YYYY-MM-DD"):
        list_invoices_request(seller_tax_id=SELLER, end_date="2026-13-01")
