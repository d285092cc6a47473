"""The register's signatures: the canonical invoice form is stable and the SDK rebuilds the same bytes from the
Invoice message; any change to a signed fact, or to one byte of a receipt, fails the SDK's check; key files."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from fapiao.v1 import register_key_service_pb2 as pb_keys
from fapiao.v1 import verification_service_pb2 as pb_verification
from fapiao_client import (
    PublicKeys,
    SignatureError,
    canonical_invoice,
    load_receipt,
    save_receipt,
    verify_invoice_signature,
    verify_receipt,
)
from fapiao_server.domain import signing
from fapiao_server.domain.invoice import (
    Invoice,
    InvoiceKey,
    InvoiceLine,
    InvoiceReference,
    InvoiceState,
    Party,
    VehicleDetails,
)
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.issuing import identifiers
from fapiao_server.domain.verification import (
    VerificationChannel,
    VerificationOutcome,
    VerificationRecord,
    VerificationRequest,
)
from fapiao_server.keys.signing import SigningKey, create_key_file, key_id_of, signing_key
from fapiao_server.seeding.generator import InvoiceGenerator
from fapiao_server.storage.bulk import seeded_invoice
from fapiao_server.transport.converters import BASIC, FULL, InvoiceMessages, invoice_message

ISSUED_AT = datetime(2026, 11, 27, 2, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    path = tmp_path_factory.mktemp("key") / "signing-key.pem"
    create_key_file(path)
    return SigningKey.load(path)


def public_keys(*keys: SigningKey) -> PublicKeys:
    return PublicKeys(pb_keys.SigningKey(key_id=k.key_id, algorithm="Ed25519", public_key=k.public_key) for k in keys)


def red_invoice() -> Invoice:
    """A red-letter used-car invoice with every optional part filled in."""
    return Invoice(
        id=42,
        invoice_type=InvoiceType.USED_CAR,
        invoice_code="011002617017",
        invoice_number="00000042",
        issue_date=date(2026, 11, 27),
        issue_time=ISSUED_AT,
        state=InvoiceState.ISSUED,
        seller=Party("91310115MA1H7GXX0Q", '上海"二手车"市场', "上海市浦东新区", "021-1234", "工行", "6222"),
        buyer=Party("", "张三\\李四"),
        amount_fen=-1_000_000,
        tax_fen=-10_000,
        total_fen=-1_010_000,
        region_code="3100",
        update_time=ISSUED_AT,
        lines=(
            InvoiceLine(1, "*机动车*轿车", -1_000_000, 100, -10_000, "1090305000000000000", "X1", "辆", "-1", "10000"),
        ),
        check_code="12345678901234567890",
        qr_payload="01,15,011002617017,00000042,-10100.00,20261127,12345678901234567890,ABCD,",
        remarks="被红冲蓝字 红字确认单编号:7",
        issuer_name="王五",
        original_invoice=InvoiceReference(41, InvoiceType.USED_CAR, "011002617017", "00000041"),
        red_letter_form_id="7",
        vehicle=VehicleDetails("LSVAU2180N2183294", "大众 朗逸", "轿车", "沪A12345"),
    )


def test_canonical_form_is_pinned() -> None:
    """The documented form (docs/signing.md), byte for byte: a change here breaks every signature ever made."""
    expected = (
        '{"amount_fen":-1000000,"buyer":{"address":"","bank_account":"","bank_name":"","name":"张三\\\\李四",'
        '"phone":"","tax_id":""},"check_code":"12345678901234567890","invoice_code":"011002617017",'
        '"invoice_number":"00000042","invoice_type":15,"issue_date":"2026-11-27","issue_time_us":1795746615123456,'
        '"issuer_name":"王五","kind":"fapiao.invoice","lines":[{"amount_fen":-1000000,"item_name":"*机动车*轿车",'
        '"line_number":1,"quantity":"-1","specification":"X1","tax_classification_code":"1090305000000000000",'
        '"tax_fen":-10000,"tax_rate_basis_points":100,"unit":"辆","unit_price":"10000"}],'
        '"original_invoice":{"invoice_code":"011002617017","invoice_number":"00000041","invoice_type":15},'
        '"payee_name":"","qr_payload":"01,15,011002617017,00000042,-10100.00,20261127,12345678901234567890,ABCD,",'
        '"red_letter_form_id":"7","region_code":"3100","remarks":"被红冲蓝字 红字确认单编号:7","reviewer_name":"",'
        '"seller":{"address":"上海市浦东新区","bank_account":"6222","bank_name":"工行","name":"上海\\"二手车\\"市场",'
        '"phone":"021-1234","tax_id":"91310115MA1H7GXX0Q"},"tax_fen":-10000,"total_fen":-1010000,'
        '"vehicle":{"brand_model":"大众 朗逸","license_plate":"沪A12345","vehicle_type":"轿车",'
        '"vin":"LSVAU2180N2183294"},"version":1}'
    )
    assert signing.canonical_invoice(red_invoice()) == expected.encode()
    assert canonical_invoice(invoice_message(red_invoice())) == expected.encode()


def generated_invoices(count: int) -> list[Invoice]:
    batch = InvoiceGenerator(seed=20261128, now=ISSUED_AT).batch(count)
    invoices: list[Invoice] = []
    for position, inv in enumerate(batch, start=1):
        number = identifiers(inv.invoice_type, inv.prefix, position)[1]
        original = None if inv.reverses is None else invoices[inv.reverses]
        invoices.append(seeded_invoice(inv, position, number, original))
    return invoices


def test_server_and_sdk_build_the_same_bytes_for_varied_invoices(key: SigningKey) -> None:
    invoices = generated_invoices(3000)
    assert {i.invoice_type for i in invoices} == set(InvoiceType)
    assert any(i.original_invoice for i in invoices) and any(i.vehicle for i in invoices)
    keys = public_keys(key)
    for invoice in invoices:
        message = invoice_message(signing.signed(invoice, key), FULL)
        assert canonical_invoice(message) == signing.canonical_invoice(invoice), invoice.key
        verify_invoice_signature(message, keys)


def test_the_cached_serialized_message_carries_the_signature(key: SigningKey) -> None:
    invoice = signing.signed(red_invoice(), key)
    message = invoice_message(invoice, FULL)
    message.ParseFromString(InvoiceMessages().serialized(invoice, FULL))
    verify_invoice_signature(message, public_keys(key))
    assert not invoice_message(invoice, BASIC).HasField("signature")  # BASIC lacks the lines it covers


CHANGES = {
    "invoice_number": lambda i: replace(i, invoice_number="00000043"),
    "issue_date": lambda i: replace(i, issue_date=date(2026, 11, 28)),
    "issue_time": lambda i: replace(i, issue_time=ISSUED_AT.replace(microsecond=123457)),
    "seller.name": lambda i: replace(i, seller=replace(i.seller, name="上海二手车市场")),
    "seller.tax_id": lambda i: replace(i, seller=replace(i.seller, tax_id="91310115MA1H7GXX1Q")),
    "buyer.bank_account": lambda i: replace(i, buyer=replace(i.buyer, bank_account="1")),
    "lines.amount_fen": lambda i: replace(i, lines=(replace(i.lines[0], amount_fen=-999_999),)),
    "lines.tax_rate": lambda i: replace(i, lines=(replace(i.lines[0], tax_rate_basis_points=300),)),
    "lines.item_name": lambda i: replace(i, lines=(replace(i.lines[0], item_name="*机动车*货车"),)),
    "lines.added": lambda i: replace(i, lines=(*i.lines, i.lines[0])),
    "total_fen": lambda i: replace(i, total_fen=-1_010_001),
    "tax_fen": lambda i: replace(i, tax_fen=-10_001),
    "check_code": lambda i: replace(i, check_code="12345678901234567891"),
    "remarks": lambda i: replace(i, remarks=""),
    "original_invoice": lambda i: replace(i, original_invoice=None),
    "original_invoice.number": lambda i: replace(
        i, original_invoice=replace(i.original_invoice, invoice_number="00000040")
    ),
    "vehicle.vin": lambda i: replace(i, vehicle=replace(i.vehicle, vin="LSVAU2180N2183295")),
    "invoice_type": lambda i: replace(i, invoice_type=InvoiceType.MOTOR_VEHICLE),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_to_a_signed_fact_fails_the_check(change: str, key: SigningKey) -> None:
    message = invoice_message(CHANGES[change](signing.signed(red_invoice(), key)))
    with pytest.raises(SignatureError) as refused:
        verify_invoice_signature(message, public_keys(key))
    assert refused.value.reason == "BAD_SIGNATURE"


def test_lifecycle_changes_keep_the_signature(key: SigningKey) -> None:
    """State, certification, void time and reversals change after issue: they are not signed."""
    later = replace(
        signing.signed(red_invoice(), key),
        state=InvoiceState.PARTIALLY_REVERSED,
        certify_time=ISSUED_AT,
        reversed_amount_fen=5,
        update_time=datetime(2027, 1, 1, tzinfo=UTC),
        red_letter_invoices=(InvoiceReference(43, InvoiceType.USED_CAR, "011002617017", "00000043"),),
    )
    verify_invoice_signature(invoice_message(later), public_keys(key))


def test_unsigned_and_unknown_key_are_told_apart(key: SigningKey, tmp_path: Path) -> None:
    with pytest.raises(SignatureError) as unsigned:
        verify_invoice_signature(invoice_message(red_invoice()), public_keys(key))
    assert unsigned.value.reason == "UNSIGNED"
    other = tmp_path / "other.pem"
    create_key_file(other)
    with pytest.raises(SignatureError) as unknown:
        verify_invoice_signature(
            invoice_message(signing.signed(red_invoice(), SigningKey.load(other))), public_keys(key)
        )
    assert unknown.value.reason == "UNKNOWN_KEY"


def a_receipt(key: SigningKey) -> signing.Receipt:
    record = VerificationRecord(
        id=9001,
        verify_time=ISSUED_AT,
        caller="acme-erp",
        channel=VerificationChannel.SINGLE,
        key=InvoiceKey("011002617017", "00000042"),
        invoice_type=InvoiceType.USED_CAR,
        issue_date=date(2026, 11, 27),
        outcome=VerificationOutcome.MATCH,
        mismatched_fields=(),
        invoice_state=InvoiceState.ISSUED,
        invoice_id=42,
    )
    request = VerificationRequest("011002617017", "00000042", (2026, 11, 27), ("total_fen", -1_010_000))
    return signing.receipt(
        record, request, signing.signed(red_invoice(), key), key, receipt_id="0f8fad5b-d9cb-469f-a165-70867728950e"
    )


def receipt_message(receipt: signing.Receipt) -> pb_verification.VerificationReceipt:
    return pb_verification.VerificationReceipt(body=receipt.body, key_id=receipt.key_id, signature=receipt.signature)


def test_a_receipt_states_the_answer(key: SigningKey) -> None:
    statement = verify_receipt(receipt_message(a_receipt(key)), public_keys(key))
    assert statement["outcome"] == "MATCH" and statement["invoice_state"] == "ISSUED"
    assert statement["caller"] == "acme-erp" and statement["verification_id"] == "9001"
    assert statement["verify_time"] == "2026-11-27T02:30:15.123456Z"
    assert statement["receipt_id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert statement["asked"]["proof"] == {"total_fen": -1_010_000}
    assert statement["invoice"]["signature"]["key_id"] == key.key_id


def test_a_receipt_altered_in_any_byte_fails(key: SigningKey) -> None:
    receipt = a_receipt(key)
    keys = public_keys(key)
    for position in range(len(receipt.body)):
        body = bytearray(receipt.body)
        body[position] ^= 0x01
        with pytest.raises(SignatureError):
            verify_receipt(receipt_message(replace(receipt, body=bytes(body))), keys)
    for position in range(len(receipt.signature)):
        signature = bytearray(receipt.signature)
        signature[position] ^= 0x80
        with pytest.raises(SignatureError):
            verify_receipt(receipt_message(replace(receipt, signature=bytes(signature))), keys)


def test_a_saved_receipt_checks_after_loading(key: SigningKey, tmp_path: Path) -> None:
    save_receipt(receipt_message(a_receipt(key)), tmp_path / "receipt.json")
    keys = public_keys(key)
    keys.save(tmp_path / "keys.json")
    statement = verify_receipt(load_receipt(tmp_path / "receipt.json"), PublicKeys.load(tmp_path / "keys.json"))
    assert statement["asked"]["issue_date"] == "2026-11-27"


def test_key_file_is_private_created_once_and_named_by_its_public_key(tmp_path: Path) -> None:
    path = tmp_path / "data" / "signing-key.pem"
    first = signing_key(None, tmp_path / "data")  # a fresh machine: created under the data dir
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing_key(None, tmp_path / "data").key_id == first.key_id  # found, not replaced
    assert not create_key_file(path)
    assert first.key_id == key_id_of(first.public_key) == hashlib.sha256(first.public_key).hexdigest()[:16]
    assert sorted(p.name for p in path.parent.iterdir()) == ["signing-key.pem"]  # no temporary left behind


def test_a_key_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="must be Ed25519"):
        SigningKey.load(path)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ValueError, match=r"junk\.pem"):
        signing_key(tmp_path / "junk.pem", tmp_path)


def test_the_documented_check_without_the_sdk_works(
    key: SigningKey, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/signing.md's snippet, run as written against a saved receipt and saved keys."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "signing.md").read_text(encoding="utf-8")
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    save_receipt(receipt_message(a_receipt(key)), tmp_path / "receipt.json")
    public_keys(key).save(tmp_path / "keys.json")
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/signing.md", "exec"), {})
    assert capsys.readouterr().out == "MATCH\n"
