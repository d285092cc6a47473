"""Signatures survive storage: every seeded invoice, read back from PostgreSQL as answers carry it, checks with the
SDK (so nothing the register stores differs from what it signed), and the seeder published its key."""

from __future__ import annotations

from typing import Any

import psycopg

from fapiao.v1 import register_key_service_pb2 as pb_keys
from fapiao_client import PublicKeys, verify_invoice_signature
from fapiao_server.domain.invoice import InvoiceKey
from fapiao_server.keys.published import PostgresSigningKeys
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.transport.converters import invoice_message
from tests.conftest import SEEDED_INVOICES
from tests.support.keys import keyring_of
from tests.support.signing import fleet_signing_key


async def test_every_seeded_invoice_read_back_verifies(database_url: str, pool: Any) -> None:
    with psycopg.connect(database_url) as conn:
        keys_of = conn.execute(
            "SELECT invoice_code, invoice_number FROM invoices WHERE id IN "
            "(SELECT invoice_id FROM invoice_events WHERE actor = 'seed')"
        ).fetchall()
    assert len(keys_of) == SEEDED_INVOICES
    published = await PostgresSigningKeys(pool).list()
    key = fleet_signing_key()
    assert [(k.key_id, k.public_key) for k in published if k.key_id == key.key_id] == [(key.key_id, key.public_key)]
    keys = PublicKeys(pb_keys.SigningKey(key_id=k.key_id, public_key=k.public_key) for k in published)
    found = await PostgresInvoices(pool, keyring_of(pool)).get_many(
        [InvoiceKey(code, number) for code, number in keys_of]
    )
    assert len(found) == SEEDED_INVOICES
    for invoice in found.values():
        assert invoice.signature is not None and invoice.signature.key_id == key.key_id
        verify_invoice_signature(invoice_message(invoice), keys)
