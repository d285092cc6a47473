"""TOTP secrets at rest on real PostgreSQL: what the logins table shows, that people still log in, that a secret
copied to another login fails closed, that a secret from before migration 0010 keeps working, and that `fapiao
keys rotate` re-seals every secret. A database of this module's own, migrated up to 0010 with a login already in
it, as an upgraded register is; the tests run in order (the rotation seals the carried-over login)."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pyotp
import pytest
from google.rpc import code_pb2
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.errors import Unauthenticated
from fapiao_server.keys.encryption import CARRIED_OVER, SEALED, Keyring, UndecryptableValue
from fapiao_server.keys.rotation import key_usage, reencrypt, start_rotation
from fapiao_server.security.passwords import hash_password
from fapiao_server.security.tokens import TokenSigner
from fapiao_server.services.administration import Administration
from fapiao_server.services.authentication import Sessions
from fapiao_server.storage.access import PostgresAccess
from fapiao_server.storage.migrations import available_migrations, migrate
from fapiao_server.storage.queries import query
from fapiao_server.transport.errors import status_for
from tests.support.keys import new_keyring
from tests.support.services import fresh_database

PASSWORD = "correct horse battery staple"
SEALED_FROM = 10  # the migration that seals TOTP secrets
# A login made before migration 0010, its TOTP secret stored in clear then.
VETERAN, VETERAN_SECRET = "veteran", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(scope="module")
async def own_database(pg_admin_url: str) -> AsyncIterator[str]:
    with fresh_database(pg_admin_url, "sealed_logins") as url:
        password_hash = await hash_password(PASSWORD)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(query("create_migrations_table"))
            for migration in available_migrations():
                if migration.version < SEALED_FROM:
                    conn.execute(migration.sql.encode())
                    conn.execute(query("record_migration"), {"version": migration.version, "name": migration.name})
            conn.execute("INSERT INTO principals (id, role) VALUES (%s, 'VERIFIER')", (VETERAN,))
            conn.execute(
                "INSERT INTO logins (principal_id, username, password_hash, totp_secret) VALUES (%s, %s, %s, %s)",
                (VETERAN, VETERAN, password_hash, VETERAN_SECRET),
            )
        migrate(url, today=business_date(utc_now()))
        yield url


class Desk:
    """What one worker holds for logins: an administrator's use case and the login use case on its own pool and
    keyring. Its clock moves a minute on each login, so every login has a TOTP step of its own (a code is good
    once)."""

    def __init__(self, pool: AsyncConnectionPool, keyring: Keyring) -> None:
        self.keyring = keyring
        access = PostgresAccess(pool, keyring)
        self.admin = Administration(access)
        self.moment = utc_now()
        signer = TokenSigner(os.urandom(32), lifetime=timedelta(minutes=15))
        self.sessions = Sessions(access, signer, refresh_lifetime_seconds=3600, clock=lambda: self.moment)

    async def enrol(self) -> tuple[str, str]:
        """A new VERIFIER with a login whose username is its id: (principal id, TOTP secret)."""
        principal_id = f"person-{uuid.uuid4().hex[:10]}"
        await self.admin.create(PrincipalAccount(Principal(principal_id, Role.VERIFIER)))
        secret, _ = await self.admin.set_login(principal_id, principal_id, PASSWORD)
        return principal_id, secret

    async def login(self, username: str, secret: str) -> str:
        """The principal id the login answers with."""
        self.moment += timedelta(minutes=1)
        _, account = await self.sessions.login(username, PASSWORD, pyotp.TOTP(secret).at(self.moment))
        return account.principal.id


@contextlib.asynccontextmanager
async def desk(url: str) -> AsyncIterator[Desk]:
    async with AsyncConnectionPool(url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        yield Desk(pool, new_keyring(url))


def stored_login(url: str, principal_id: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT totp_secret, data_key_id, totp_last_step, updated_at, logins::text AS whole FROM logins"
            " WHERE principal_id = %s",
            (principal_id,),
        ).fetchone()
    assert row is not None
    return row


async def test_the_column_holds_no_totp_secret_and_people_still_log_in(own_database: str) -> None:
    async with desk(own_database) as d:
        principal_id, secret = await d.enrol()
        row = stored_login(own_database, principal_id)
        assert secret.encode() not in bytes(row["totp_secret"])
        assert secret not in row["whole"] and secret.encode().hex() not in row["whole"]
        assert row["data_key_id"] == d.keyring.primary_id
        assert await d.login(principal_id, secret) == principal_id


async def test_a_secret_copied_to_another_login_fails_closed(
    own_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with desk(own_database) as d:
        (victim, victim_secret), (donor, donor_secret) = await d.enrol(), await d.enrol()
        with psycopg.connect(own_database, autocommit=True) as conn:
            conn.execute(
                "UPDATE logins SET totp_secret = (SELECT totp_secret FROM logins WHERE principal_id = %s)"
                " WHERE principal_id = %s",
                (donor, victim),
            )
        caplog.set_level(logging.ERROR, logger="fapiao_server.storage.access")
        for secret in (donor_secret, victim_secret):  # neither the copied secret nor the lost one lets anyone in
            with pytest.raises(Unauthenticated) as refused:
                await d.login(victim, secret)
            assert refused.value.reason == "LOGIN_FAILED"
            assert status_for(refused.value).code == code_pb2.UNAUTHENTICATED
        assert f"logins.totp_secret of row {victim}" in caplog.text
        assert await d.login(donor, donor_secret) == donor  # the original is untouched
        # An administrator's new SetLogin repairs the damaged login.
        secret, _ = await d.admin.set_login(victim, victim, PASSWORD)
        assert await d.login(victim, secret) == victim


async def test_a_secret_from_before_the_migration_is_carried_over_and_still_logs_in(own_database: str) -> None:
    row = stored_login(own_database, VETERAN)
    assert bytes(row["totp_secret"]) == bytes([CARRIED_OVER]) + VETERAN_SECRET.encode() and row["data_key_id"] is None
    async with desk(own_database) as d:
        assert await d.login(VETERAN, VETERAN_SECRET) == VETERAN


def every_login(url: str) -> dict[str, tuple[bytes, int | None, int, Any]]:
    """Each login's stored secret, key, last TOTP step and updated_at, by principal id."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT principal_id, totp_secret, data_key_id, totp_last_step, updated_at FROM logins")
        return {row[0]: (bytes(row[1]), *row[2:]) for row in rows}


async def test_rotation_reseals_every_secret_and_people_still_log_in(own_database: str) -> None:
    async with desk(own_database) as d:  # a worker that started before the rotation
        enrolled = [await d.enrol() for _ in range(3)]
        before = every_login(own_database)
        old_keys = {k.key_id for k in key_usage(own_database) if k.state in ("primary", "retiring")}
        rotator = new_keyring(own_database)  # `fapiao keys rotate`, elsewhere
        new_key = start_rotation(own_database, rotator)
        late = await d.enrol()  # the worker's next SetLogin seals with the new key
        assert stored_login(own_database, late[0])["data_key_id"] == new_key
        retired = reencrypt(own_database, rotator, batch_rows=2)

        assert set(retired) == old_keys
        usage = {k.key_id: k for k in key_usage(own_database)}
        assert None not in usage  # the login carried over by the migration is sealed too
        assert usage[new_key].logins == len(before) + 1
        assert all(usage[k].state == "retired" and usage[k].logins == 0 for k in old_keys)
        after = every_login(own_database)
        for principal_id, (secret, _, step, updated_at) in before.items():
            resealed, new_key_id, new_step, new_updated_at = after[principal_id]
            assert resealed != secret and resealed[0] == SEALED and new_key_id == new_key
            assert resealed[1:5] == new_key.to_bytes(4, "big")
            assert (new_step, new_updated_at) == (step, updated_at)  # the login itself did not change
        assert VETERAN_SECRET.encode() not in after[VETERAN][0]

        # The worker opens secrets sealed with a key it did not hold when it started.
        for principal_id, secret in [*enrolled, late, (VETERAN, VETERAN_SECRET)]:
            assert await d.login(principal_id, secret) == principal_id


async def test_a_login_that_does_not_open_stops_the_rotation_until_repaired(own_database: str) -> None:
    async with desk(own_database) as d:
        (victim, _), (donor, _) = await d.enrol(), await d.enrol()
        with psycopg.connect(own_database, autocommit=True) as conn:
            conn.execute(
                "UPDATE logins SET totp_secret = (SELECT totp_secret FROM logins WHERE principal_id = %s)"
                " WHERE principal_id = %s",
                (donor, victim),
            )
        rotator = new_keyring(own_database)
        start_rotation(own_database, rotator)
        with pytest.raises(UndecryptableValue, match=rf"logins\.totp_secret of row {victim}"):
            reencrypt(own_database, rotator)
        secret, _ = await d.admin.set_login(victim, victim, PASSWORD)  # the repair
        assert reencrypt(own_database, rotator)  # `--resume`: the old key is retired now
        assert await d.login(victim, secret) == victim
