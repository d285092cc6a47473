"""Shared fixtures: a real PostgreSQL database (migrated and seeded once per run), a real Redis, and a real
`fapiao serve` fleet on a real port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.invoice_types import InvoiceType, Proof
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.migrations import migrate
from tests.support.access import principal_key, use_key_by_default
from tests.support.keys import shared_keyring
from tests.support.server import NO_QUOTAS, ServerProcess
from tests.support.services import fresh_database, postgres_admin_url, shared_redis_url
from tests.support.signing import fleet_signing_key

SEEDED_INVOICES = 3000
# Fixed, so a failure reproduces; numbers still come from the register's counters.
SEED = 20261127


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with postgres_admin_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for this run, migrated and seeded with invoices of every type."""
    with fresh_database(pg_admin_url, "main") as url:
        migrate(url, today=business_date(utc_now()))
        seed_register(url, SEEDED_INVOICES, shared_keyring(url), seed=SEED, now=utc_now(), signer=fleet_signing_key())
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with shared_redis_url() as url:
        yield url


@pytest.fixture
def key_prefix() -> str:
    """A Redis namespace of this test's own, so runs sharing one Redis never see each other's keys."""
    return f"fapiao:test:{uuid.uuid4().hex[:12]}:"


@dataclass(frozen=True)
class Sample:
    """A seeded invoice, as a test needs it to build verification requests."""

    id: int
    invoice_type: int
    invoice_code: str
    invoice_number: str
    issue_date: date
    check_code: str
    amount_fen: int
    total_fen: int
    state: int
    qr_payload: str

    def proof(self) -> dict[str, Any]:
        """The type-specific verification field, as keyword arguments for verify_request."""
        proof = InvoiceType(self.invoice_type).proof  # the register's own rule (docs/domain.md section 2)
        values = {Proof.CHECK_CODE: self.check_code[-6:], Proof.AMOUNT: self.amount_fen, Proof.TOTAL: self.total_fen}
        return {proof.value: values[proof]}

    def request_fields(self) -> dict[str, Any]:
        return {
            "invoice_code": self.invoice_code,
            "invoice_number": self.invoice_number,
            "issue_date": self.issue_date,
            **self.proof(),
        }


class Register:
    """Finds seeded invoices for tests."""

    def __init__(self, url: str) -> None:
        self.url = url

    def samples(self, where: str = "TRUE", params: dict[str, Any] | None = None, limit: int = 1) -> list[Sample]:
        since = date(business_date(utc_now()).year - 4, 1, 1)
        sql = (
            "SELECT id, invoice_type, invoice_code, invoice_number, issue_date, check_code, amount_fen, total_fen,"
            " state, qr_payload FROM invoices WHERE issue_date >= %(since)s AND "
            + where
            + " ORDER BY id LIMIT %(limit)s"
        )
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            rows = conn.execute(sql, {"since": since, "limit": limit, **(params or {})}).fetchall()
        return [Sample(**row) for row in rows]

    def sample(self, where: str = "TRUE", params: dict[str, Any] | None = None) -> Sample:
        found = self.samples(where, params)
        assert found, f"no seeded invoice matches {where}"
        return found[0]

    def one_of_each_type(self) -> list[Sample]:
        return [
            self.sample("invoice_type = %(t)s AND state = 1", {"t": t}) for t in (1, 2, 3, 4, 8, 10, 11, 14, 15, 31, 32)
        ]


@pytest.fixture(scope="session")
def register(database_url: str) -> Register:
    return Register(database_url)


@pytest.fixture(scope="session")
def verifier_key(database_url: str) -> str:
    """A VERIFIER of the session database; clients and CLI runs that name no credentials use it."""
    key = principal_key(database_url, Role.VERIFIER, principal_id="e2e-verifier")
    use_key_by_default(key)
    return key


@pytest.fixture(scope="session")
def new_key(database_url: str) -> Callable[..., str]:
    """Makes a principal of the session database and returns its API key: ``new_key(Role.TAXPAYER,
    tax_ids=[...], principal_id=...)``; a VERIFIER with a fresh id by default."""

    def make(role: Role = Role.VERIFIER, **kwargs: Any) -> str:
        return principal_key(database_url, role, **kwargs)

    return make


@pytest.fixture(scope="session")
def server(database_url: str, redis_url: str, verifier_key: str) -> Iterator[ServerProcess]:
    """A two-worker fleet sharing one port, on the test database and Redis, as an SRE would run it."""
    process = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_REDIS_URL": redis_url,
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:{uuid.uuid4().hex[:12]}:",
            "FAPIAO_LOG_LEVEL": "WARNING",
            **NO_QUOTAS,
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, kwargs={"autocommit": True}) as opened:
        yield opened


def aware(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)
