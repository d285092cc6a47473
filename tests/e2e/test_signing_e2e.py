"""Signed answers end to end on real servers: issued and red invoices carry the register's signature, which the
SDK checks with the keys ListSigningKeys serves; VerifyInvoice and VerifyQrCode receipts check offline; after the
fleet rotates to a new key, old invoices and receipts still verify; a fresh machine makes its own key."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao_client import (
    AsyncInvoiceClient,
    AsyncRegisterKeyClient,
    AsyncVerificationClient,
    PublicKeys,
    SignatureError,
    load_receipt,
    save_receipt,
    verify_invoice_signature,
    verify_receipt,
    verify_request,
)
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.keys.signing import SigningKey, create_key_file
from fapiao_server.storage.migrations import migrate
from tests.conftest import Register
from tests.support.access import principal_key
from tests.support.fleet import channel, new_tax_id, pool_key, start_servers, stop_servers
from tests.support.invoices import issue_request
from tests.support.server import ServerProcess
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

pytestmark = pytest.mark.slow

# Quantities as a seller may type them; the register signs them as PostgreSQL gives them back.
ODD_LINES = (
    pb.IssueLine(item_name="*计算机设备*服务器", amount_fen=1_234_567, tax_rate_basis_points=1300,
                 quantity="002", unit_price="6172.8350", unit="台"),
    pb.IssueLine(item_name='*图书*"技术"手册\\卷一', amount_fen=9_990, tax_rate_basis_points=0),
)  # fmt: skip


@pytest.fixture
def signing_database(pg_admin_url: str) -> Iterator[str]:
    """A register of its own: rotating keys here leaves the shared test register's key list alone."""
    with fresh_database(pg_admin_url, "signing") as url:
        migrate(url, today=business_date(utc_now()))
        yield url


def verify_fields(invoice: invoice_pb2.Invoice) -> dict[str, object]:
    return {
        "invoice_code": invoice.invoice_code,
        "invoice_number": invoice.invoice_number,
        "issue_date": f"{invoice.issue_date.year:04d}-{invoice.issue_date.month:02d}-{invoice.issue_date.day:02d}",
        "check_code": invoice.check_code[-6:],
    }


async def test_issued_and_red_invoices_verify_with_the_served_keys(database_url: str, redis_url: str) -> None:
    key = pool_key(database_url)  # a taxpayer acting for every tax id new_tax_id hands out
    servers = start_servers(database_url, redis_url, count=1)
    try:
        async with channel(servers[0].address) as ch:
            keys = await AsyncRegisterKeyClient(channel=ch, token=key).signing_keys()
            assert fleet_signing_key().key_id in keys
            assert keys[fleet_signing_key().key_id].algorithm == "Ed25519"
            invoices = AsyncInvoiceClient(channel=ch, token=key)
            seller, buyer = new_tax_id(), new_tax_id("110108")
            issued = await invoices.issue_invoice(issue_request(4, seller, buyer, lines=ODD_LINES))
            assert issued.signature.key_id == fleet_signing_key().key_id
            assert issued.lines[0].quantity == "2"
            verify_invoice_signature(issued, keys)
            stored = await invoices.get_invoice(issued)  # read back from PostgreSQL
            verify_invoice_signature(stored, keys)
            answer = await AsyncVerificationClient(channel=ch, token=key).verify_invoice(**verify_fields(issued))
            verify_invoice_signature(answer.invoice, keys)
            assert not answer.HasField("receipt")  # receipts are opt-in

            form = await invoices.create_red_letter_form(issued, reason="goods-returned", initiator="seller")
            if form.state == 2:  # awaiting the buyer
                await invoices.confirm_red_letter_form(form.id, party="buyer")
            reversal = await invoices.issue_red_invoice(form.id)
            verify_invoice_signature(reversal.invoice, keys)
            verify_invoice_signature(reversal.original_invoice, keys)  # its state changed; its facts did not
            assert reversal.original_invoice.state == invoice_pb2.INVOICE_STATE_FULLY_REVERSED
    finally:
        stop_servers(servers)


async def test_seeded_invoices_carry_the_fleet_signature(database_url: str, redis_url: str, register: Register) -> None:
    samples = register.one_of_each_type()
    with psycopg.connect(database_url) as conn:  # the taxpayer reading them is their sellers
        sellers = conn.execute(
            "SELECT seller_tax_id FROM invoices WHERE id = ANY(%s)", ([sample.id for sample in samples],)
        ).fetchall()
    key = principal_key(database_url, Role.TAXPAYER, tax_ids=[seller for (seller,) in sellers])
    servers = start_servers(database_url, redis_url, count=1)
    try:
        async with channel(servers[0].address) as ch:
            keys = await AsyncRegisterKeyClient(channel=ch, token=key).signing_keys()
            client = AsyncInvoiceClient(channel=ch, token=key)
            for sample in samples:
                verify_invoice_signature(await client.get_invoice(pb.InvoiceSelector(id=str(sample.id))), keys)
    finally:
        stop_servers(servers)


async def test_receipts_check_offline_and_fail_when_altered(
    database_url: str, redis_url: str, register: Register, tmp_path: Path
) -> None:
    caller = f"acme-erp-{uuid.uuid4().hex[:8]}"
    key = principal_key(database_url, Role.VERIFIER, principal_id=caller)
    servers = start_servers(database_url, redis_url, count=1)
    sample = register.sample("invoice_type = 10 AND state = 1")
    try:
        async with channel(servers[0].address) as ch:
            (await AsyncRegisterKeyClient(channel=ch, token=key).signing_keys()).save(tmp_path / "keys.json")
            client = AsyncVerificationClient(channel=ch, token=key)
            matched = await client.verify_invoice(verify_request(**sample.request_fields(), with_receipt=True))
            mismatch_fields = {**sample.request_fields(), "check_code": "000000"}
            mismatched = await client.verify_invoice(verify_request(**mismatch_fields, with_receipt=True))
            by_qr = await client.verify_qr_code(sample.qr_payload, with_receipt=True)
    finally:
        stop_servers(servers)
    # Offline from here: the register is gone, the saved keys and receipts are enough.
    keys = PublicKeys.load(tmp_path / "keys.json")
    save_receipt(matched.receipt, tmp_path / "receipt.json")
    statement = verify_receipt(load_receipt(tmp_path / "receipt.json"), keys)
    assert statement["outcome"] == "MATCH" and statement["invoice_state"] == "ISSUED"
    assert statement["caller"] == caller and statement["verification_id"] == matched.verification_id
    assert statement["asked"]["invoice_number"] == sample.invoice_number
    assert statement["invoice"]["signature"]["key_id"] == matched.invoice.signature.key_id
    assert statement["verify_time"].startswith(matched.verify_time.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S"))
    stated = verify_receipt(mismatched.receipt, keys)
    assert (stated["outcome"], stated["mismatched_fields"], stated["invoice"]) == ("MISMATCH", ["check_code"], None)
    assert verify_receipt(by_qr.verification.receipt, keys)["asked"]["qr_payload"] == sample.qr_payload

    altered = load_receipt(tmp_path / "receipt.json")
    altered.body = altered.body.replace(b'"MATCH"', b'"MATCH "')
    with pytest.raises(SignatureError) as refused:
        verify_receipt(altered, keys)
    assert refused.value.reason == "BAD_SIGNATURE"


async def test_after_rotation_old_invoices_and_receipts_still_verify(
    signing_database: str, redis_url: str, tmp_path: Path
) -> None:
    key = pool_key(signing_database)  # a taxpayer acting for every tax id new_tax_id hands out
    seller, buyer = new_tax_id(), new_tax_id("110108")
    servers = start_servers(signing_database, redis_url, count=2)
    try:
        async with channel(servers[0].address) as ch:
            old = await AsyncInvoiceClient(channel=ch, token=key).issue_invoice(issue_request(4, seller, buyer))
            answer = await AsyncVerificationClient(channel=ch, token=key).verify_invoice(
                verify_request(**verify_fields(old), with_receipt=True)
            )
    finally:
        stop_servers(servers)
    new_key_file = tmp_path / "rotated.pem"
    assert create_key_file(new_key_file)
    new_key = SigningKey.load(new_key_file)
    servers = start_servers(signing_database, redis_url, count=2, signing_key_file=new_key_file)
    try:
        async with channel(servers[1].address) as ch:
            keys = await AsyncRegisterKeyClient(channel=ch, token=key).signing_keys()
            new = await AsyncInvoiceClient(channel=ch, token=key).issue_invoice(issue_request(10, seller, buyer))
            reread = await AsyncInvoiceClient(channel=ch, token=key).get_invoice(old)
    finally:
        stop_servers(servers)
    old_key_id = fleet_signing_key().key_id
    assert list(keys) == [new_key.key_id, old_key_id]  # newest first; the old one stays published
    assert not keys[new_key.key_id].HasField("retire_time")
    assert keys[old_key_id].retire_time.ToDatetime() == keys[new_key.key_id].activate_time.ToDatetime()
    assert (old.signature.key_id, new.signature.key_id) == (old_key_id, new_key.key_id)
    for invoice in (old, reread, new):
        verify_invoice_signature(invoice, keys)
    assert verify_receipt(answer.receipt, keys)["key_id"] == old_key_id
    with pytest.raises(SignatureError) as unknown:  # keys fetched before the rotation do not know the new key
        verify_invoice_signature(new, PublicKeys(k for k in keys.values() if k.key_id == old_key_id))
    assert unknown.value.reason == "UNKNOWN_KEY"


async def test_a_fresh_machine_makes_a_private_key_and_publishes_it(signing_database: str, tmp_path: Path) -> None:
    api_key = pool_key(signing_database)
    data_dir = tmp_path / "data"
    server = ServerProcess(
        "--listen", "127.0.0.1:0", env={"FAPIAO_DATABASE_URL": signing_database, "FAPIAO_DATA_DIR": str(data_dir)}
    )
    del server.env["FAPIAO_SIGNING_KEY_FILE"]  # as on a machine nobody configured
    server.start()
    try:
        key_file = data_dir / "signing-key.pem"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        key = SigningKey.load(key_file)
        async with channel(server.address) as ch:
            assert list(await AsyncRegisterKeyClient(channel=ch, token=api_key).signing_keys()) == [key.key_id]
        assert f"signing key: {key.key_id}" in server.output()  # the banner's last line, read by now
    finally:
        stop_servers([server])
