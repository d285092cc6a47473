"""Verification queries: validation (build_query, query_from_qr) and judging against an invoice (judge)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from fapiao_server.domain.errors import InvalidArgument
from fapiao_server.domain.invoice import Invoice, InvoiceKey, InvoiceState, Party
from fapiao_server.domain.invoice_types import InvoiceType, Proof
from fapiao_server.domain.verification import (
    INVALID_QUERY,
    VerificationOutcome,
    VerificationPolicy,
    VerificationQuery,
    VerificationRequest,
    build_query,
    judge,
    query_from_qr,
)

TODAY = date(2026, 11, 27)
POLICY = VerificationPolicy()
ISSUED = (2025, 6, 18)
CHECK_CODE = "85342965681116380258"
DIGITAL_NUMBER = "25442000000014209621"
# A valid 2025 code of each legacy type (10-digit: digit 8; 12-digit: digits 11-12, or digit 8 = 2 for 03).
CODES = {
    InvoiceType.VAT_SPECIAL: "1100251130",
    InvoiceType.FREIGHT_VAT_SPECIAL: "1100251230",
    InvoiceType.MOTOR_VEHICLE: "131002520001",
    InvoiceType.VAT_GENERAL: "044032510004",
    InvoiceType.E_VAT_SPECIAL: "011002500013",
    InvoiceType.E_VAT_GENERAL: "011002512311",
    InvoiceType.VAT_GENERAL_ROLL: "011002500006",
    InvoiceType.TOLL: "011002500012",
    InvoiceType.USED_CAR: "011002500017",
}
PROOF_VALUES = {Proof.CHECK_CODE: "380258", Proof.AMOUNT: 9433962, Proof.TOTAL: 10660377}


def legacy(kind: InvoiceType, **changes: object) -> VerificationRequest:
    """A valid request for a legacy invoice of ``kind``, with ``changes`` applied."""
    proof = kind.proof
    request = VerificationRequest(
        invoice_code=CODES[kind], invoice_number="03630024", issue_date=ISSUED, proof=(proof.value, PROOF_VALUES[proof])
    )
    return replace(request, **changes)


def digital(**changes: object) -> VerificationRequest:
    request = VerificationRequest(
        invoice_code="", invoice_number=DIGITAL_NUMBER, issue_date=ISSUED, proof=("total_fen", 11200)
    )
    return replace(request, **changes)


def build(request: VerificationRequest, *, today: date = TODAY, window_years: int = 5) -> VerificationQuery:
    return build_query(request, today=today, policy=VerificationPolicy(window_years=window_years))


def violations(request: VerificationRequest, **kwargs: object) -> dict[str, list[str]]:
    """The violations build_query reports, by field; also checks the error's reason."""
    with pytest.raises(InvalidArgument) as caught:
        build(request, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == INVALID_QUERY
    found: dict[str, list[str]] = {}
    for violation in caught.value.violations:
        found.setdefault(violation.field, []).append(violation.description)
    return found


# --- valid queries -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CODES))
def test_valid_legacy_query_of_every_type(kind: InvoiceType) -> None:
    query = build(legacy(kind))
    assert query.key == InvoiceKey(CODES[kind], "03630024")
    assert query.issue_date == date(*ISSUED)
    assert query.invoice_type is kind
    assert query.proof is kind.proof
    if kind.proof is Proof.CHECK_CODE:
        assert (query.check_code, query.money_fen) == ("380258", 0)
    else:
        assert (query.check_code, query.money_fen) == ("", PROOF_VALUES[kind.proof])


@pytest.mark.parametrize(
    ("kind", "proof"),
    [
        (InvoiceType.VAT_SPECIAL, "amount_fen"),
        (InvoiceType.MOTOR_VEHICLE, "amount_fen"),
        (InvoiceType.E_VAT_SPECIAL, "amount_fen"),
        (InvoiceType.VAT_GENERAL, "check_code"),
        (InvoiceType.E_VAT_GENERAL, "check_code"),
        (InvoiceType.VAT_GENERAL_ROLL, "check_code"),
        (InvoiceType.TOLL, "check_code"),
        (InvoiceType.FREIGHT_VAT_SPECIAL, "total_fen"),
        (InvoiceType.USED_CAR, "total_fen"),
    ],
)
def test_proof_field_per_type(kind: InvoiceType, proof: str) -> None:
    # docs/domain.md section 2, spelled out independently of the InvoiceType.proof table.
    assert build(legacy(kind)).proof.value == proof


def test_full_20_digit_check_code_is_reduced_to_its_last_6() -> None:
    query = build(legacy(InvoiceType.E_VAT_GENERAL, proof=("check_code", f" {CHECK_CODE} ")))
    assert query.check_code == "380258"


def test_code_and_number_are_stripped() -> None:
    query = build(legacy(InvoiceType.VAT_SPECIAL, invoice_code=" 1100251130 ", invoice_number=" 03630024 "))
    assert query.key == InvoiceKey("1100251130", "03630024")


def test_asked_type_agreeing_with_the_code_is_fine() -> None:
    assert build(legacy(InvoiceType.VAT_SPECIAL, invoice_type=1)).invoice_type is InvoiceType.VAT_SPECIAL


def test_negative_amount_of_a_red_letter_invoice_is_accepted() -> None:
    assert build(legacy(InvoiceType.VAT_SPECIAL, proof=("amount_fen", -9433962))).money_fen == -9433962


def test_digital_query_without_a_type() -> None:
    query = build(digital())
    assert query.key == InvoiceKey("", DIGITAL_NUMBER)
    assert query.invoice_type is None
    assert query.proof is Proof.TOTAL
    assert query.money_fen == 11200


@pytest.mark.parametrize("kind", [InvoiceType.DIGITAL_SPECIAL, InvoiceType.DIGITAL_GENERAL])
def test_digital_query_with_its_type(kind: InvoiceType) -> None:
    query = build(digital(invoice_type=kind.value))
    assert query.invoice_type is kind
    assert query.proof is Proof.TOTAL


def test_same_day_invoice_is_accepted() -> None:
    assert build(legacy(InvoiceType.VAT_SPECIAL, issue_date=(2026, 11, 27))).issue_date == TODAY


# --- invoice_code and invoice_number ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "12345",  # wrong length
        "11002511a0",  # not digits
        "1100250030",  # digit 8 names no type
        "011002500099",  # digits 11-12 name no type
        "1100271130",  # year later than today
        "1100001130",  # year 00
        "9900251130",  # no such province
    ],
)
def test_bad_invoice_code(code: str) -> None:
    found = violations(legacy(InvoiceType.VAT_SPECIAL, invoice_code=code))
    assert list(found) == ["invoice_code"]


@pytest.mark.parametrize("number", ["", "0363002", "036300245", "0363002x"])
def test_bad_legacy_number(number: str) -> None:
    assert violations(legacy(InvoiceType.VAT_SPECIAL, invoice_number=number)) == {
        "invoice_number": ["must be 8 digits for an invoice with a code"]
    }


def test_digital_number_with_a_code_is_rejected() -> None:
    found = violations(legacy(InvoiceType.VAT_SPECIAL, invoice_number=DIGITAL_NUMBER))
    assert list(found) == ["invoice_number"]
    assert "without an invoice code" in found["invoice_number"][0]


def test_eight_digit_number_without_a_code_needs_the_code() -> None:
    found = violations(digital(invoice_number="03630024"))
    assert list(found) == ["invoice_code"]


def test_missing_number_without_a_code() -> None:
    assert violations(digital(invoice_number="  ")) == {"invoice_number": ["required"]}


@pytest.mark.parametrize(
    "number",
    [
        "2544200000001420962",  # 19 digits
        "123456789012",  # 12 digits
        "25992000000014209621",  # no such province
        "27442000000014209621",  # year later than today
        "2544200000001420962x",
    ],
)
def test_bad_digital_number(number: str) -> None:
    assert list(violations(digital(invoice_number=number))) == ["invoice_number"]


# --- invoice_type -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [51, 61, 81, 99, 5, -1])
def test_unknown_invoice_type(value: int) -> None:
    found = violations(legacy(InvoiceType.VAT_SPECIAL, invoice_type=value))
    assert list(found) == ["invoice_type"]
    assert "not an invoice type" in found["invoice_type"][0]


def test_unknown_invoice_type_without_a_code() -> None:
    assert list(violations(digital(invoice_type=51))) == ["invoice_type"]


@pytest.mark.parametrize("asked", [InvoiceType.VAT_GENERAL, InvoiceType.E_VAT_SPECIAL, InvoiceType.DIGITAL_SPECIAL])
def test_invoice_type_contradicting_the_code(asked: InvoiceType) -> None:
    found = violations(legacy(InvoiceType.VAT_SPECIAL, invoice_type=asked.value))
    assert list(found) == ["invoice_type"]
    assert "disagrees with the invoice code" in found["invoice_type"][0]


@pytest.mark.parametrize("asked", [kind for kind in InvoiceType if not kind.digital])
def test_legacy_type_without_a_code(asked: InvoiceType) -> None:
    found = violations(digital(invoice_type=asked.value))
    assert list(found) == ["invoice_type"]
    assert "only 31 or 32" in found["invoice_type"][0]


# --- issue_date -------------------------------------------------------------------------------------------------


def test_missing_issue_date() -> None:
    assert violations(legacy(InvoiceType.VAT_SPECIAL, issue_date=(0, 0, 0))) == {"issue_date": ["required"]}


@pytest.mark.parametrize("parts", [(2025, 2, 29), (2025, 13, 1), (2025, 6, 0), (2025, 0, 0), (0, 6, 18)])
def test_impossible_issue_date(parts: tuple[int, int, int]) -> None:
    found = violations(legacy(InvoiceType.VAT_SPECIAL, issue_date=parts))
    assert list(found) == ["issue_date"]
    assert "not a calendar date" in found["issue_date"][0]


def test_future_issue_date() -> None:
    found = violations(legacy(InvoiceType.VAT_SPECIAL, issue_date=(2026, 11, 28)))
    assert list(found) == ["issue_date"]
    assert "later than today" in found["issue_date"][0]


def test_five_year_window_by_default() -> None:
    assert build(legacy(InvoiceType.VAT_SPECIAL, issue_date=(2021, 11, 27))).issue_date == date(2021, 11, 27)
    found = violations(legacy(InvoiceType.VAT_SPECIAL, issue_date=(2021, 11, 26)))
    assert list(found) == ["issue_date"]
    assert "5-year" in found["issue_date"][0]


def test_window_is_configurable() -> None:
    request = legacy(InvoiceType.VAT_SPECIAL, issue_date=(2025, 11, 26))
    assert build(request).issue_date == date(2025, 11, 26)
    found = violations(request, window_years=1)
    assert list(found) == ["issue_date"]
    assert "1-year" in found["issue_date"][0]
    assert build(legacy(InvoiceType.VAT_SPECIAL, issue_date=(2025, 11, 27)), window_years=1)


def test_window_from_29_february_starts_on_28_february() -> None:
    leap_day = date(2024, 2, 29)
    request = legacy(InvoiceType.VAT_SPECIAL, invoice_code="1100231130", issue_date=(2023, 2, 28))
    assert build(request, today=leap_day, window_years=1).issue_date == date(2023, 2, 28)
    found = violations(replace(request, issue_date=(2023, 2, 27)), today=leap_day, window_years=1)
    assert list(found) == ["issue_date"]


# --- the proof field --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        (InvoiceType.VAT_GENERAL, ("amount_fen", 100), "check_code"),
        (InvoiceType.E_VAT_GENERAL, ("total_fen", 100), "check_code"),
        (InvoiceType.VAT_SPECIAL, ("check_code", "380258"), "amount_fen"),
        (InvoiceType.MOTOR_VEHICLE, ("total_fen", 100), "amount_fen"),
        (InvoiceType.FREIGHT_VAT_SPECIAL, ("amount_fen", 100), "total_fen"),
        (InvoiceType.USED_CAR, ("check_code", "380258"), "total_fen"),
    ],
)
def test_wrong_proof_field_for_the_type(kind: InvoiceType, given: tuple[str, object], expected: str) -> None:
    found = violations(legacy(kind, proof=given))
    assert list(found) == [given[0]]
    assert f"verified with {expected}, not {given[0]}" in found[given[0]][0]


@pytest.mark.parametrize("given", [("amount_fen", 11200), ("check_code", "380258")])
def test_digital_is_verified_with_the_total(given: tuple[str, object]) -> None:
    found = violations(digital(proof=given))
    assert list(found) == [given[0]]
    assert "verified with total_fen" in found[given[0]][0]


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (InvoiceType.VAT_GENERAL, "check_code"),
        (InvoiceType.VAT_SPECIAL, "amount_fen"),
        (InvoiceType.FREIGHT_VAT_SPECIAL, "total_fen"),
    ],
)
def test_missing_proof(kind: InvoiceType, field: str) -> None:
    found = violations(legacy(kind, proof=None))
    assert list(found) == [field]
    assert found[field][0].startswith("required")


def test_missing_proof_for_digital() -> None:
    assert list(violations(digital(proof=None))) == ["total_fen"]


@pytest.mark.parametrize("check_code", ["", "38025", "3802581", "38025x", CHECK_CODE[1:]])
def test_malformed_check_code(check_code: str) -> None:
    assert list(violations(legacy(InvoiceType.VAT_GENERAL, proof=("check_code", check_code)))) == ["check_code"]


@pytest.mark.parametrize("money", [10**15, -(10**15), "12.5", "abc"])
def test_malformed_money(money: object) -> None:
    assert list(violations(legacy(InvoiceType.VAT_SPECIAL, proof=("amount_fen", money)))) == ["amount_fen"]
    assert list(violations(digital(proof=("total_fen", money)))) == ["total_fen"]


def test_proof_is_not_judged_when_the_type_is_unknown() -> None:
    # With an underivable code, which field the proof should be is unknown: only the code is reported.
    found = violations(legacy(InvoiceType.VAT_SPECIAL, invoice_code="1100250030", proof=("check_code", "x")))
    assert list(found) == ["invoice_code"]


# --- every bad field at once ------------------------------------------------------------------------------------


def test_all_bad_fields_are_reported_together() -> None:
    request = VerificationRequest(
        invoice_code="1100250030", invoice_number="123", issue_date=(2026, 12, 1), proof=None, invoice_type=99
    )
    found = violations(request)
    assert set(found) == {"invoice_code", "invoice_number", "issue_date", "invoice_type"}


def test_all_bad_fields_with_a_valid_code() -> None:
    request = legacy(
        InvoiceType.VAT_GENERAL, invoice_number="1", issue_date=(2025, 2, 30), proof=("amount_fen", 1), invoice_type=1
    )
    found = violations(request)
    assert set(found) == {"invoice_number", "issue_date", "amount_fen", "invoice_type"}


def test_all_bad_fields_without_a_code() -> None:
    found = violations(digital(invoice_number="03630024", issue_date=(0, 0, 0), proof=None))
    assert set(found) == {"invoice_code", "issue_date", "total_fen"}


def test_error_message_names_every_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build(legacy(InvoiceType.VAT_SPECIAL, invoice_number="1", issue_date=(0, 0, 0)))
    assert "invoice_number" in caught.value.message
    assert "issue_date" in caught.value.message


# --- judge ------------------------------------------------------------------------------------------------------


def invoice(kind: InvoiceType, **changes: object) -> Invoice:
    """The register's invoice that ``legacy(kind)`` (or ``digital()``) describes exactly."""
    moment = datetime(2025, 6, 18, 2, 0, tzinfo=UTC)
    made = Invoice(
        id=7,
        invoice_type=kind,
        invoice_code="" if kind.digital else CODES[kind],
        invoice_number=DIGITAL_NUMBER if kind.digital else "03630024",
        issue_date=date(*ISSUED),
        issue_time=moment,
        state=InvoiceState.ISSUED,
        seller=Party("9144030071526726XG", "深圳某某科技有限公司"),
        buyer=Party("91110108551385082Q", "北京某某贸易有限公司"),
        amount_fen=PROOF_VALUES[Proof.AMOUNT],
        tax_fen=PROOF_VALUES[Proof.TOTAL] - PROOF_VALUES[Proof.AMOUNT],
        total_fen=11200 if kind.digital else PROOF_VALUES[Proof.TOTAL],
        region_code="1100",
        update_time=moment + timedelta(hours=1),
        check_code=CHECK_CODE if kind.proof is Proof.CHECK_CODE else "",
    )
    return replace(made, **changes)


@pytest.mark.parametrize("kind", list(CODES))
def test_judge_match(kind: InvoiceType) -> None:
    assert judge(build(legacy(kind)), invoice(kind)) == (VerificationOutcome.MATCH, ())


@pytest.mark.parametrize("kind", [InvoiceType.DIGITAL_SPECIAL, InvoiceType.DIGITAL_GENERAL])
def test_judge_digital_without_a_type_matches_either(kind: InvoiceType) -> None:
    assert judge(build(digital()), invoice(kind)) == (VerificationOutcome.MATCH, ())


def test_judge_digital_with_the_other_type() -> None:
    query = build(digital(invoice_type=31))
    assert judge(query, invoice(InvoiceType.DIGITAL_GENERAL)) == (VerificationOutcome.MISMATCH, ("invoice_type",))
    assert judge(query, invoice(InvoiceType.DIGITAL_SPECIAL)) == (VerificationOutcome.MATCH, ())


def test_judge_type_disagreeing_with_the_register() -> None:
    # The code says 01, the register holds it as 08: only the type is named.
    query = build(legacy(InvoiceType.VAT_SPECIAL))
    found = invoice(InvoiceType.VAT_SPECIAL, invoice_type=InvoiceType.E_VAT_SPECIAL)
    assert judge(query, found) == (VerificationOutcome.MISMATCH, ("invoice_type",))


def test_judge_issue_date() -> None:
    query = build(legacy(InvoiceType.VAT_SPECIAL))
    found = invoice(InvoiceType.VAT_SPECIAL, issue_date=date(2025, 6, 17))
    assert judge(query, found) == (VerificationOutcome.MISMATCH, ("issue_date",))


@pytest.mark.parametrize("check_code", ["85342965681116380259", "", "380258", "9" * 14 + "380258" + "0"])
def test_judge_check_code(check_code: str) -> None:
    query = build(legacy(InvoiceType.VAT_GENERAL))
    found = invoice(InvoiceType.VAT_GENERAL, check_code=check_code)
    assert judge(query, found) == (VerificationOutcome.MISMATCH, ("check_code",))


def test_judge_compares_only_the_last_6_of_the_check_code() -> None:
    query = build(legacy(InvoiceType.VAT_GENERAL, proof=("check_code", "00000000000000380258")))
    assert judge(query, invoice(InvoiceType.VAT_GENERAL)) == (VerificationOutcome.MATCH, ())


def test_judge_amount() -> None:
    query = build(legacy(InvoiceType.VAT_SPECIAL))
    found = invoice(InvoiceType.VAT_SPECIAL, amount_fen=PROOF_VALUES[Proof.AMOUNT] + 1)
    assert judge(query, found) == (VerificationOutcome.MISMATCH, ("amount_fen",))
    # The total is not what a special invoice is asked for.
    assert judge(query, invoice(InvoiceType.VAT_SPECIAL, total_fen=1))[0] is VerificationOutcome.MATCH


@pytest.mark.parametrize("kind", [InvoiceType.FREIGHT_VAT_SPECIAL, InvoiceType.USED_CAR])
def test_judge_total(kind: InvoiceType) -> None:
    query = build(legacy(kind))
    assert judge(query, invoice(kind, total_fen=1)) == (VerificationOutcome.MISMATCH, ("total_fen",))
    assert judge(query, invoice(kind, amount_fen=1))[0] is VerificationOutcome.MATCH


def test_judge_digital_total() -> None:
    query = build(digital(proof=("total_fen", 11201)))
    assert judge(query, invoice(InvoiceType.DIGITAL_GENERAL)) == (VerificationOutcome.MISMATCH, ("total_fen",))


def test_judge_names_every_disagreeing_field_and_no_value() -> None:
    query = build(legacy(InvoiceType.VAT_GENERAL, issue_date=(2025, 6, 19), proof=("check_code", "111111")))
    found = invoice(InvoiceType.VAT_GENERAL, invoice_type=InvoiceType.VAT_GENERAL_ROLL)
    outcome, fields = judge(query, found)
    assert outcome is VerificationOutcome.MISMATCH
    assert fields == ("invoice_type", "issue_date", "check_code")
    for value in (CHECK_CODE, "380258", "2025-06-18", "11"):
        assert all(value not in field for field in fields)


def test_judge_ignores_the_state() -> None:
    # The state is reported with the invoice on MATCH; it is not a field the caller asserts.
    query = build(legacy(InvoiceType.VAT_SPECIAL))
    assert judge(query, invoice(InvoiceType.VAT_SPECIAL, state=InvoiceState.VOIDED))[0] is VerificationOutcome.MATCH


# --- query_from_qr ----------------------------------------------------------------------------------------------

QR_LEGACY_GENERAL = "01,10,011001605111,80100798,64.9,20161018,85342965681116380258,BE2D,"
QR_LEGACY_SPECIAL = "01,01,1200154130,03630024,94339.62,20160621,,9335,"
QR_DIGITAL = "01,32,,23442000000014209621,112,20230215,,74AE"


def test_qr_legacy_general_example() -> None:
    request, query = query_from_qr(QR_LEGACY_GENERAL, today=date(2016, 12, 31), policy=POLICY)
    assert request == VerificationRequest(
        invoice_code="011001605111",
        invoice_number="80100798",
        issue_date=(2016, 10, 18),
        proof=("check_code", CHECK_CODE),
        invoice_type=10,
    )
    assert query == VerificationQuery(
        key=InvoiceKey("011001605111", "80100798"),
        issue_date=date(2016, 10, 18),
        proof=Proof.CHECK_CODE,
        check_code="380258",
        invoice_type=InvoiceType.E_VAT_GENERAL,
    )


def test_qr_legacy_special_example() -> None:
    request, query = query_from_qr(QR_LEGACY_SPECIAL, today=date(2016, 12, 31), policy=POLICY)
    assert request.proof == ("amount_fen", 9433962)
    assert (query.proof, query.money_fen, query.invoice_type) == (Proof.AMOUNT, 9433962, InvoiceType.VAT_SPECIAL)


def test_qr_digital_example() -> None:
    request, query = query_from_qr(QR_DIGITAL, today=date(2023, 3, 1), policy=POLICY)
    assert request.proof == ("total_fen", 11200)
    assert query.key == InvoiceKey("", "23442000000014209621")
    assert (query.proof, query.money_fen, query.invoice_type) == (Proof.TOTAL, 11200, InvoiceType.DIGITAL_GENERAL)


def qr_for(kind: InvoiceType, *, check_code: str = CHECK_CODE) -> str:
    code = "" if kind.digital else CODES[kind]
    number = DIGITAL_NUMBER if kind.digital else "03630024"
    printed = check_code if kind.proof is Proof.CHECK_CODE else ""
    return f"01,{kind.code},{code},{number},123.45,20250618,{printed},BE2D,"


@pytest.mark.parametrize(
    ("kind", "proof"),
    [
        (InvoiceType.VAT_GENERAL, ("check_code", CHECK_CODE)),
        (InvoiceType.E_VAT_GENERAL, ("check_code", CHECK_CODE)),
        (InvoiceType.VAT_GENERAL_ROLL, ("check_code", CHECK_CODE)),
        (InvoiceType.TOLL, ("check_code", CHECK_CODE)),
        (InvoiceType.VAT_SPECIAL, ("amount_fen", 12345)),
        (InvoiceType.MOTOR_VEHICLE, ("amount_fen", 12345)),
        (InvoiceType.E_VAT_SPECIAL, ("amount_fen", 12345)),
        (InvoiceType.FREIGHT_VAT_SPECIAL, ("total_fen", 12345)),
        (InvoiceType.USED_CAR, ("total_fen", 12345)),
        (InvoiceType.DIGITAL_SPECIAL, ("total_fen", 12345)),
        (InvoiceType.DIGITAL_GENERAL, ("total_fen", 12345)),
    ],
)
def test_qr_picks_the_proof_for_the_type(kind: InvoiceType, proof: tuple[str, object]) -> None:
    request, query = query_from_qr(qr_for(kind), today=TODAY, policy=POLICY)
    assert request.proof == proof
    assert request.invoice_type == kind.value
    assert query.invoice_type is kind
    assert query.proof.value == proof[0]


def test_qr_parse_errors_are_on_payload() -> None:
    with pytest.raises(InvalidArgument) as caught:
        query_from_qr("02" + QR_LEGACY_SPECIAL[2:], today=TODAY, policy=POLICY)
    assert caught.value.reason == INVALID_QUERY
    assert [v.field for v in caught.value.violations] == ["payload"]
    assert "version" in caught.value.violations[0].description


def test_qr_rule_violations_are_mapped_onto_payload() -> None:
    # Today the legacy examples are far outside the window and the code disagrees with the type.
    text = "01,04,1200154130,03630024,94339.62,20160621,,9335,"
    with pytest.raises(InvalidArgument) as caught:
        query_from_qr(text, today=TODAY, policy=POLICY)
    assert caught.value.reason == INVALID_QUERY
    assert {v.field for v in caught.value.violations} == {"payload"}
    descriptions = [v.description for v in caught.value.violations]
    assert any(d.startswith("invoice_type: ") for d in descriptions)
    assert any(d.startswith("issue_date: ") and "5-year" in d for d in descriptions)


def test_qr_window_follows_the_policy() -> None:
    text = qr_for(InvoiceType.VAT_SPECIAL).replace("20250618", "20250101")
    assert query_from_qr(text, today=TODAY, policy=POLICY)[1].issue_date == date(2025, 1, 1)
    with pytest.raises(InvalidArgument):
        query_from_qr(text, today=TODAY, policy=VerificationPolicy(window_years=1))


def test_qr_check_code_type_without_a_check_code() -> None:
    with pytest.raises(InvalidArgument) as caught:
        query_from_qr(qr_for(InvoiceType.E_VAT_GENERAL, check_code=""), today=TODAY, policy=POLICY)
    assert [v.description for v in caught.value.violations] == ["check_code: required for type 10 invoices"]


def test_qr_digital_with_a_code_is_rejected() -> None:
    text = f"01,32,1100251130,{DIGITAL_NUMBER},112,20250618,,74AE,"
    with pytest.raises(InvalidArgument) as caught:
        query_from_qr(text, today=TODAY, policy=POLICY)
    descriptions = [v.description for v in caught.value.violations]
    assert any(d.startswith("invoice_number: ") for d in descriptions)
    assert any(d.startswith("invoice_type: ") for d in descriptions)
