"""Issuing (开具): the request checked field by field (every problem at once, each with its path), priced exactly
(tax half-up per line, docs/domain.md section 6), and given identifiers the register's own parsers accept
(section 1)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from fapiao_server.domain.errors import FailedPrecondition, InvalidArgument
from fapiao_server.domain.identifiers import parse_digital_number, parse_invoice_code
from fapiao_server.domain.invoice import InvoiceKey, InvoiceState, Party, VehicleDetails
from fapiao_server.domain.invoice_types import InvoiceType, Proof
from fapiao_server.domain.issuing import (
    INVALID_INVOICE,
    LEGACY_NUMBER_LIMIT,
    MAX_LINES,
    IssueRequest,
    LineRequest,
    check_issue_request,
    finish,
    identifiers,
    new_check_code,
    number_prefix,
    seller_region,
)
from fapiao_server.domain.money import MAX_ABS_FEN
from fapiao_server.domain.qr import format_qr_payload, parse_qr_payload
from fapiao_server.domain.verification import VerificationOutcome, VerificationPolicy, judge, query_from_qr
from tests.support.invoices import VIN, tax_id

SELLER = tax_id("110108")  # Beijing, Haidian
BUYER = tax_id("310115")  # Shanghai, Pudong
TODAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
GOODS = LineRequest("*计算机设备*服务器", 1_234_567, 1300, quantity="2", unit_price="6172.835", unit="台")
SERVICE = LineRequest("*信息技术服务*运维", 25, 600)
VEHICLE = VehicleDetails(vin=VIN, brand_model="大众 帕萨特")


def request(kind: InvoiceType | int = InvoiceType.VAT_SPECIAL, **changes: object) -> IssueRequest:
    """A valid request of ``kind`` with ``changes`` applied."""
    vehicle_kind = kind in (InvoiceType.MOTOR_VEHICLE, InvoiceType.USED_CAR)
    base = IssueRequest(
        invoice_type=int(kind),
        seller=Party(SELLER, "北京测试科技有限公司"),
        buyer=Party(BUYER, "上海采购有限公司"),
        lines=(GOODS,) if vehicle_kind else (GOODS, SERVICE),
        vehicle=VEHICLE if vehicle_kind else None,
    )
    return replace(base, **changes)


def violations(issue: IssueRequest) -> dict[str, list[str]]:
    with pytest.raises(InvalidArgument) as caught:
        check_issue_request(issue)
    assert caught.value.reason == INVALID_INVOICE
    found: dict[str, list[str]] = {}
    for violation in caught.value.violations:
        found.setdefault(violation.field, []).append(violation.description)
    return found


# --- a valid request, priced -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(InvoiceType))
def test_every_type_is_accepted_and_priced(kind: InvoiceType) -> None:
    draft = check_issue_request(request(kind))
    assert draft.invoice_type is kind
    assert draft.region == "1100"
    assert [line.line_number for line in draft.lines] == list(range(1, len(draft.lines) + 1))
    assert draft.amount_fen == sum(line.amount_fen for line in draft.lines)
    assert draft.tax_fen == sum(line.tax_fen for line in draft.lines)
    assert draft.total_fen == draft.amount_fen + draft.tax_fen
    assert (draft.vehicle is not None) == (kind in (InvoiceType.MOTOR_VEHICLE, InvoiceType.USED_CAR))


def test_tax_is_half_up_per_line_and_totals_add_the_line_taxes() -> None:
    # 1234567 x 13% = 160493.71 -> 160494; 25 x 6% = 1.5 -> 2 (half-up, not to even); 45 x 9% = 4.05 -> 4.
    lines = (GOODS, SERVICE, SERVICE, LineRequest("*运输服务*运费", 45, 900), LineRequest("*图书*手册", 999, 0))
    draft = check_issue_request(request(lines=lines))
    assert [line.tax_fen for line in draft.lines] == [160_494, 2, 2, 4, 0]
    assert draft.amount_fen == 1_234_567 + 25 + 25 + 45 + 999
    # Per line, not on the sum: the two 25-fen lines are 2 + 2 = 4, where 50 x 6% would be 3.
    assert draft.tax_fen == 160_494 + 4 + 4
    assert draft.total_fen == draft.amount_fen + draft.tax_fen


@pytest.mark.parametrize("rate", [1300, 900, 600, 500, 300, 100, 0])
def test_every_rate_in_use_is_accepted(rate: int) -> None:
    (line,) = check_issue_request(request(lines=(LineRequest("*服务*x", 10_050, rate),))).lines
    assert line.tax_rate_basis_points == rate
    whole, rest = divmod(10_050 * rate, 10_000)
    assert line.tax_fen == whole + (2 * rest >= 10_000)


def test_ids_and_texts_are_normalised() -> None:
    draft = check_issue_request(
        request(seller=Party(f" {SELLER.lower()} ", "  北京测试科技有限公司 "), remarks="  合同 2026-118  ")
    )
    assert draft.seller.tax_id == SELLER
    assert draft.seller.name == "北京测试科技有限公司"
    assert draft.remarks == "合同 2026-118"


@pytest.mark.parametrize(
    ("division", "region"),
    [("110108", "1100"), ("440305", "4403"), ("440106", "4400"), ("210202", "2102"), ("330203", "3302"),
     ("350203", "3502"), ("370202", "3702"), ("650102", "6500")],
)  # fmt: skip
def test_region_is_the_sellers_province_or_separately_planned_city(division: str, region: str) -> None:
    assert seller_region(tax_id(division)) == region
    assert check_issue_request(request(seller=Party(tax_id(division), "卖方"))).region == region


@pytest.mark.parametrize("kind", [InvoiceType.VAT_GENERAL, InvoiceType.E_VAT_GENERAL, InvoiceType.DIGITAL_GENERAL])
def test_an_individual_buyer_needs_no_tax_id_on_general_invoices(kind: InvoiceType) -> None:
    assert check_issue_request(request(kind, buyer=Party("", "个人"))).buyer.tax_id == ""


def test_quantity_times_unit_price_may_differ_by_one_fen() -> None:
    line = LineRequest("*服务*x", 1000, 600, quantity="3", unit_price="3.33")  # 9.99 yuan
    assert check_issue_request(request(lines=(line,))).lines[0].quantity == "3"
    assert set(violations(request(lines=(replace(line, amount_fen=1001),)))) == {"lines[0].amount_fen"}


# --- violations, all at once ---------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_field_path() -> None:
    bad = request(
        invoice_type=0,
        seller=Party(SELLER[:-1] + ("0" if SELLER[-1] != "0" else "1"), " ", phone="1" * 41),
        buyer=Party("", "买方\x00"),
        lines=(
            LineRequest("", 0, 1700, tax_classification_code="123"),
            LineRequest("*服务*x", 100, 600, quantity="1"),
            LineRequest("*服务*x", 100, 600, quantity="2", unit_price="5"),
            LineRequest("*服务*x", -5, 600, quantity="abc", unit_price="0"),
        ),
        remarks="备" * 501,
        vehicle=VehicleDetails(vin="X"),
    )
    assert set(violations(bad)) == {
        "invoice_type",
        "seller.tax_id",
        "seller.name",
        "seller.phone",
        "buyer.name",
        "lines[0].item_name",
        "lines[0].tax_classification_code",
        "lines[0].tax_rate_basis_points",
        "lines[0].amount_fen",
        "lines[1].unit_price",
        "lines[2].amount_fen",
        "lines[3].amount_fen",
        "lines[3].quantity",
        "lines[3].unit_price",
        "remarks",
        "vehicle",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"invoice_type": 5}, "invoice_type"),
        ({"invoice_type": 51}, "invoice_type"),
        ({"seller": Party("", "卖方")}, "seller.tax_id"),
        ({"seller": Party("91110108MA01ABCDE", "卖方")}, "seller.tax_id"),  # 17 characters
        ({"seller": Party("110108123456789", "卖方")}, "seller.tax_id"),  # an older 15-character id
        ({"seller": Party(tax_id("990000"), "卖方")}, "seller.tax_id"),  # no such province
        ({"seller": Party(SELLER[:7] + "８" + SELLER[8:], "卖方")}, "seller.tax_id"),  # a full-width digit
        ({"buyer": Party(SELLER, "自己")}, "buyer.tax_id"),
        ({"buyer": Party("", "个人")}, "buyer.tax_id"),  # special invoices need a registered buyer
        ({"lines": ()}, "lines"),
        ({"lines": (GOODS,) * (MAX_LINES + 1)}, "lines"),
        ({"lines": (LineRequest("*服务*x", MAX_ABS_FEN, 1300),)}, "lines"),
        ({"lines": (LineRequest("*服务*x", 0, 600),)}, "lines[0].amount_fen"),
        ({"lines": (LineRequest("*服务*x", 100, 1100),)}, "lines[0].tax_rate_basis_points"),
        ({"lines": (LineRequest("*服务*x", 100, -600),)}, "lines[0].tax_rate_basis_points"),
        ({"lines": (LineRequest("*服务*x\n", 100, 600),)}, "lines[0].item_name"),
        ({"lines": (LineRequest("x" * 201, 100, 600),)}, "lines[0].item_name"),
        ({"lines": (LineRequest("*服务*x", 100, 600, unit_price="1"),)}, "lines[0].quantity"),
        ({"lines": (LineRequest("*服务*x", 100, 600, quantity="1e2", unit_price="1"),)}, "lines[0].quantity"),
        ({"lines": (LineRequest("*服务*x", 100, 600, quantity="1", unit_price="1.123456789"),)}, "lines[0].unit_price"),
        ({"lines": (LineRequest("*服务*x", 100, 600, quantity="3", unit_price="0.32"),)}, "lines[0].amount_fen"),
        ({"vehicle": VEHICLE}, "vehicle"),
        ({"issuer_name": "x" * 41}, "issuer_name"),
    ],
)
def test_each_violation_names_its_field(changes: dict[str, object], field: str) -> None:
    assert set(violations(request(**changes))) == {field}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kind",
    [InvoiceType.VAT_SPECIAL, InvoiceType.FREIGHT_VAT_SPECIAL, InvoiceType.E_VAT_SPECIAL, InvoiceType.DIGITAL_SPECIAL],
)
def test_special_invoices_need_the_buyers_tax_id(kind: InvoiceType) -> None:
    assert violations(request(kind, buyer=Party("", "个人"))) == {"buyer.tax_id": ["is required"]}


@pytest.mark.parametrize("kind", [InvoiceType.MOTOR_VEHICLE, InvoiceType.USED_CAR])
def test_vehicle_invoices_need_one_line_and_a_vin(kind: InvoiceType) -> None:
    assert set(violations(request(kind, lines=(GOODS, SERVICE)))) == {"lines"}
    assert set(violations(request(kind, vehicle=None))) == {"vehicle.vin"}
    for vin in ("LSVAU2180N218329", "LSVAU2180N2183I94", "LSVAU2180N2183O94", "LSVAU2180N2183Q94"):
        assert set(violations(request(kind, vehicle=VehicleDetails(vin=vin)))) == {"vehicle.vin"}
    assert check_issue_request(request(kind, vehicle=VehicleDetails(vin=VIN.lower()))).vehicle == VehicleDetails(
        vin=VIN
    )


# --- identifiers -------------------------------------------------------------------------------------------

REGIONS = ("1100", "4403", "2102", "6500")


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("kind", [k for k in InvoiceType if not k.digital])
def test_legacy_identifiers_parse_back_to_their_type_region_and_year(kind: InvoiceType, region: str) -> None:
    prefix = number_prefix(kind, region, TODAY)
    for value in (1, 4_711, LEGACY_NUMBER_LIMIT):
        code, number = identifiers(kind, prefix, value)
        parsed = parse_invoice_code(code, TODAY)
        assert (parsed.invoice_type, parsed.region, parsed.year) == (kind, region, 26)
        assert parsed.routing_region == region
        assert number == f"{value:08d}"
    ten_digit = (InvoiceType.VAT_SPECIAL, InvoiceType.FREIGHT_VAT_SPECIAL, InvoiceType.VAT_GENERAL)
    assert len(code) == (10 if kind in ten_digit else 12)


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("kind", [InvoiceType.DIGITAL_SPECIAL, InvoiceType.DIGITAL_GENERAL])
def test_digital_numbers_parse_back_to_their_year_province_and_sequence(kind: InvoiceType, region: str) -> None:
    prefix = number_prefix(kind, region, TODAY)
    for value in (1, 123_456_789_012_345):
        code, number = identifiers(kind, prefix, value)
        assert code == ""
        parsed = parse_digital_number(number, TODAY)
        assert (parsed.year, parsed.province, parsed.sequence) == (26, region[:2], value)
        assert parsed.region == region[:2] + "00"


def test_codes_change_with_the_year_and_never_collide_across_types() -> None:
    prefixes = {number_prefix(kind, "1100", TODAY) for kind in InvoiceType}
    assert len(prefixes) == len(InvoiceType) - 1  # 31 and 32 share the 数电 counter of their province
    assert number_prefix(InvoiceType.VAT_GENERAL, "1100", date(2027, 1, 1)) != number_prefix(
        InvoiceType.VAT_GENERAL, "1100", TODAY
    )


def test_a_code_whose_numbers_are_used_up_is_refused() -> None:
    prefix = number_prefix(InvoiceType.VAT_GENERAL, "1100", TODAY)
    with pytest.raises(FailedPrecondition) as refused:
        identifiers(InvoiceType.VAT_GENERAL, prefix, LEGACY_NUMBER_LIMIT + 1)
    assert refused.value.reason == "NUMBERS_EXHAUSTED"


@pytest.mark.parametrize("kind", list(InvoiceType))
def test_check_codes_only_on_types_verified_by_them(kind: InvoiceType) -> None:
    code = new_check_code(kind)
    if kind.proof is Proof.CHECK_CODE:
        assert len(code) == 20 and code.isdigit()
    else:
        assert code == ""


@pytest.mark.parametrize("kind", list(InvoiceType))
def test_the_finished_invoice_and_its_qr_payload_verify(kind: InvoiceType) -> None:
    # 23:30 in Shanghai on 30 November: the business date is the 30th, not the UTC date.
    now = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    draft = check_issue_request(request(kind))
    code, number = identifiers(kind, number_prefix(kind, draft.region, date(2026, 11, 30)), 7)
    invoice = finish(draft, invoice_id=99, code=code, number=number, now=now)
    assert invoice.issue_date == date(2026, 11, 30) and invoice.issue_time == now
    assert invoice.state is InvoiceState.ISSUED and invoice.key == InvoiceKey(code, number)
    assert invoice.total_fen == invoice.amount_fen + invoice.tax_fen == draft.total_fen
    qr = parse_qr_payload(invoice.qr_payload)
    money = invoice.total_fen if kind.proof is Proof.TOTAL else invoice.amount_fen
    assert (qr.invoice_type, qr.invoice_code, qr.invoice_number, qr.amount_fen, qr.issue_date, qr.check_code) == (
        kind,
        code,
        number,
        money,
        date(2026, 11, 30),
        invoice.check_code,
    )
    untagged = format_qr_payload(replace(qr, tag=""))
    assert qr.tag == hashlib.sha256(untagged.encode()).hexdigest()[:4].upper()
    _, query = query_from_qr(invoice.qr_payload, today=date(2026, 12, 1), policy=VerificationPolicy())
    assert judge(query, invoice) == (VerificationOutcome.MATCH, ())
