"""When PostgreSQL cannot answer, verification says UNAVAILABLE (retry later) and nothing else: batches keep
each bad item's own error and turn only the answerable ones into UNAVAILABLE."""

from __future__ import annotations

import pytest
from psycopg_pool import AsyncConnectionPool

from fapiao_server.domain.errors import InvalidArgument, Unavailable
from fapiao_server.domain.verification import QrRequest, VerificationRequest
from fapiao_server.keys.encryption import Keyring, MasterKey
from fapiao_server.services.verification import VerificationService
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.verification_records import GroupCommitRecorder, PostgresVerificationRecords
from tests.conftest import Register


@pytest.fixture
def unreachable() -> VerificationService:
    pool = AsyncConnectionPool("postgresql://nobody@127.0.0.1:9/none", min_size=1, max_size=1, timeout=0.5, open=False)
    records = PostgresVerificationRecords(pool)
    # No data keys can be loaded from an unreachable database; none are needed to fail.
    keyring = Keyring(MasterKey(bytes(32)))
    return VerificationService(PostgresInvoices(pool, keyring), GroupCommitRecorder(records), records)


async def test_a_single_verification_is_unavailable(unreachable: VerificationService, register: Register) -> None:
    sample = register.sample()
    d = sample.issue_date
    request = VerificationRequest(sample.invoice_code, sample.invoice_number, (d.year, d.month, d.day),
                                  next(iter(sample.proof().items())))  # fmt: skip
    with pytest.raises(Unavailable):
        await unreachable.verify(request, caller="outage")


async def test_a_batch_keeps_bad_items_errors(unreachable: VerificationService, register: Register) -> None:
    sample = register.sample()
    results = await unreachable.verify_batch([QrRequest(sample.qr_payload), QrRequest("garbage")], caller="outage")
    assert isinstance(results[0], Unavailable)
    assert isinstance(results[1], InvalidArgument)
