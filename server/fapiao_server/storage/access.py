"""Principals and credentials in PostgreSQL (access.sql). TOTP secrets are sealed at rest with the data keys,
each bound to its login's principal. Every change writes the audit events it is handed in its own transaction
(storage.audit.record_with_change), so they commit with it or not at all."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ..domain.access import Principal, PrincipalAccount, Role
from ..domain.audit import AuditEvent
from ..domain.errors import AlreadyExists
from ..keys.data_keys import follow_primary, keep_keys_for
from ..keys.encryption import Keyring, UndecryptableValue
from ..services.ports import ApiKeyInfo, ApiKeySecret, LoginSecret, SessionState
from .audit import record_with_change
from .database import storage_errors
from .queries import query

log = logging.getLogger(__name__)


def _account(row: dict[str, Any]) -> PrincipalAccount:
    principal = Principal(
        row["id"], Role(row["role"]), frozenset(row["tax_ids"]), frozenset(row["regions"]), row["rate_limit"],
        row["display_name"],
    )  # fmt: skip
    return PrincipalAccount(
        principal,
        disabled=row["disabled_at"] is not None,
        username=row["username"],
        certificate_name=row["certificate_name"],
        created_at=row["created_at"],
    )


def _parameters(account: PrincipalAccount) -> dict[str, Any]:
    p = account.principal
    return {
        "id": p.id, "role": p.role.value, "display_name": p.display_name, "rate_limit": p.rate_limit,
        "certificate_name": account.certificate_name, "disabled": account.disabled,
        "tax_ids": sorted(p.tax_ids), "regions": sorted(p.regions),
    }  # fmt: skip


def _taken(error: psycopg.errors.UniqueViolation) -> AlreadyExists:
    constraint = error.diag.constraint_name or ""
    what = {"logins_username_key": "username", "principals_certificate_name_key": "certificate name"}.get(
        constraint, "value"
    )
    return AlreadyExists(f"that {what} is taken by another principal", reason=f"{what.upper().replace(' ', '_')}_TAKEN")


class PostgresAccess:
    def __init__(self, pool: AsyncConnectionPool, keyring: Keyring) -> None:
        self._pool = pool
        self._keyring = keyring

    async def _one(self, statement: LiteralString, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        with storage_errors():
            async with self._pool.connection() as conn:
                return await (await conn.execute(statement, parameters)).fetchone()

    async def _all(self, statement: LiteralString, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        with storage_errors():
            async with self._pool.connection() as conn:
                return await (await conn.execute(statement, parameters)).fetchall()

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection in a transaction, for a change and its audit events."""
        with storage_errors():
            async with self._pool.connection() as conn, conn.transaction():
                yield conn

    async def _changed_row(
        self, statement: LiteralString, parameters: dict[str, Any], audit: Sequence[AuditEvent]
    ) -> tuple[Any, ...] | None:
        """The row ``statement`` changed, written with ``audit``; None, and no audit, when it changed none."""
        async with self._change() as conn:
            row = await (await conn.execute(statement, parameters)).fetchone()
            if row is not None:
                await record_with_change(conn, audit)
            return row

    # --- principals ----------------------------------------------------------------------------------------

    async def accounts(self, ids: Iterable[str]) -> dict[str, PrincipalAccount]:
        with storage_errors():
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(query("principal_accounts"), {"ids": list(ids)})
                return {row["id"]: _account(row) for row in await cursor.fetchall()}

    async def principal_for_certificate(self, name: str) -> str | None:
        row = await self._one(query("principal_by_certificate"), {"name": name})
        return None if row is None else row[0]

    async def principal_ids(self, *, role: Role | None, after: str, limit: int) -> list[str]:
        rows = await self._all(
            query("list_principal_ids"), {"role": role and role.value, "after": after, "limit": limit}
        )
        return [row[0] for row in rows]

    async def create_principal(self, account: PrincipalAccount, *, audit: Sequence[AuditEvent] = ()) -> None:
        """Store a new principal; AlreadyExists when its id (or certificate name) is taken."""
        parameters = _parameters(account)
        async with self._change() as conn:
            try:
                created = await (await conn.execute(query("insert_principal"), parameters)).fetchone()
            except psycopg.errors.UniqueViolation as error:
                raise _taken(error) from error
            if created is None:
                raise AlreadyExists(f"principal {account.principal.id} exists", reason="PRINCIPAL_EXISTS")
            await self._write_coverage(conn, parameters)
            await record_with_change(conn, audit)

    async def update_principal(self, account: PrincipalAccount, *, audit: Sequence[AuditEvent] = ()) -> bool:
        parameters = _parameters(account)
        async with self._change() as conn:
            try:
                updated = await (await conn.execute(query("update_principal"), parameters)).fetchone()
            except psycopg.errors.UniqueViolation as error:
                raise _taken(error) from error
            if updated is None:
                return False
            await self._write_coverage(conn, parameters)
            await record_with_change(conn, audit)
            return True

    async def _write_coverage(self, conn: psycopg.AsyncConnection[Any], parameters: dict[str, Any]) -> None:
        await conn.execute(query("replace_principal_tax_ids"), parameters)
        await conn.execute(query("replace_principal_regions"), parameters)

    # --- logins and sessions ---------------------------------------------------------------------------------

    async def login(self, username: str) -> LoginSecret | None:
        with storage_errors():
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
                row = await (await cursor.execute(query("login_by_username"), {"username": username})).fetchone()
                if row is None:
                    return None
                await keep_keys_for(conn, self._keyring, [row])
        try:
            secret = self._keyring.open_totp_secret(row["principal_id"], row["totp_secret"])
        except UndecryptableValue as error:
            # Altered, or copied from another login: no code can be right, so the login fails as a wrong code
            # would. Logged, by principal id (a username may be a person's name): the row needs repair from a
            # backup, or a new SetLogin.
            log.error("the login of principal %s is refused: %s", row["principal_id"], error)
            return None
        return LoginSecret(row["principal_id"], row["password_hash"], secret, row["totp_last_step"])

    async def accept_totp_step(self, principal_id: str, step: int) -> bool:
        return await self._one(query("accept_totp_step"), {"principal_id": principal_id, "step": step}) is not None

    async def set_login(
        self,
        principal_id: str,
        username: str,
        password_hash: str,
        totp_secret: str,
        *,
        audit: Sequence[AuditEvent] = (),
    ) -> None:
        """Give the principal this login (its TOTP secret sealed) and end its sessions, in one transaction."""
        async with self._change() as conn:
            primary = await (await conn.execute(query("primary_data_key"))).fetchone()
            await follow_primary(conn, self._keyring, primary)
            parameters = {
                "principal_id": principal_id, "username": username, "password_hash": password_hash,
                "totp_secret": self._keyring.seal_totp_secret(principal_id, totp_secret),
                "data_key_id": self._keyring.primary_id,
            }  # fmt: skip
            try:
                await conn.execute(query("upsert_login"), parameters)
            except psycopg.errors.UniqueViolation as error:
                raise _taken(error) from error
            await conn.execute(query("revoke_sessions_of"), parameters)
            await record_with_change(conn, audit)

    async def create_session(
        self,
        session_id: uuid.UUID,
        principal_id: str,
        refresh_hash: bytes,
        expires_at: datetime,
        *,
        audit: Sequence[AuditEvent] = (),
    ) -> None:
        parameters = {"id": session_id, "principal_id": principal_id, "refresh_hash": refresh_hash,
                      "expires_at": expires_at}  # fmt: skip
        async with self._change() as conn:
            await conn.execute(query("insert_session"), parameters)
            await record_with_change(conn, audit)

    async def session_state(self, session_id: uuid.UUID) -> SessionState | None:
        row = await self._one(query("session_state"), {"id": session_id})
        return None if row is None else SessionState(*row)

    async def rotate_refresh_token(
        self, session_id: uuid.UUID, old_hash: bytes, new_hash: bytes, *, audit: Sequence[AuditEvent] = ()
    ) -> SessionState | None:
        """The session if ``old_hash`` was its live refresh token (now replaced), else None."""
        parameters = {"id": session_id, "old_hash": old_hash, "new_hash": new_hash}
        row = await self._changed_row(query("rotate_refresh_token"), parameters, audit)
        return None if row is None else SessionState(*row)

    async def revoke_session(self, session_id: uuid.UUID, *, audit: Sequence[AuditEvent] = ()) -> None:
        # Written even when the session had ended already: the logout was still asked for, and answered.
        async with self._change() as conn:
            await conn.execute(query("revoke_session"), {"id": session_id})
            await record_with_change(conn, audit)

    async def revoke_sessions_of(self, principal_id: str, *, audit: Sequence[AuditEvent] = ()) -> int:
        async with self._change() as conn:
            revoked = await (await conn.execute(query("revoke_sessions_of"), {"principal_id": principal_id})).fetchall()
            await record_with_change(conn, audit)
            return len(revoked)

    # --- API keys --------------------------------------------------------------------------------------------

    async def create_api_key(
        self,
        key_id: str,
        principal_id: str,
        secret_hash: bytes,
        description: str,
        expires_at: datetime | None,
        *,
        audit: Sequence[AuditEvent] = (),
    ) -> ApiKeyInfo:
        parameters = {
            "id": key_id, "principal_id": principal_id, "secret_hash": secret_hash,
            "description": description, "expires_at": expires_at,
        }  # fmt: skip
        row = await self._changed_row(query("insert_api_key"), parameters, audit)
        assert row is not None  # INSERT ... RETURNING
        return ApiKeyInfo(*row)

    async def api_key_secret(self, key_id: str) -> ApiKeySecret | None:
        row = await self._one(query("api_key_secret"), {"id": key_id})
        return None if row is None else ApiKeySecret(*row)

    async def api_keys_of(self, principal_id: str) -> Sequence[ApiKeyInfo]:
        return [ApiKeyInfo(*row) for row in await self._all(query("api_keys_of"), {"principal_id": principal_id})]

    async def revoke_api_key(self, key_id: str, *, audit: Sequence[AuditEvent] = ()) -> ApiKeyInfo | None:
        row = await self._changed_row(query("revoke_api_key"), {"id": key_id}, audit)
        return None if row is None else ApiKeyInfo(*row)
