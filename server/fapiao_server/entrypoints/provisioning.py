"""Administration outside the running service: principals and API keys made straight in the database (the first
administrator, `fapiao bootstrap-admin`; the demo principals of `fapiao serve --demo`; test fleets), through the same
use case as AdminService; and the audit records of such maintenance commands, which no RPC sees."""

from __future__ import annotations

import asyncio
import getpass
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..domain.access import PrincipalAccount
from ..domain.audit import AuditEvent, AuditOutcome
from ..domain.calendar import utc_now
from ..domain.errors import AlreadyExists
from ..keys.encryption import Keyring
from ..services.administration import Administration
from ..storage.access import PostgresAccess
from ..storage.audit import PostgresAuditLog
from ..storage.database import create_pool


@dataclass(frozen=True, slots=True)
class Provisioned:
    account: PrincipalAccount
    created: bool
    api_key: str


async def _provision(
    url: str, keyring: Keyring, accounts: Sequence[PrincipalAccount], description: str
) -> list[Provisioned]:
    pool = create_pool(url, min_size=1, max_size=2, acquire_timeout=10, statement_timeout_ms=30_000,
                       application_name="fapiao-provisioning")  # fmt: skip
    await pool.open(wait=True)
    try:
        admin = Administration(PostgresAccess(pool, keyring))
        done = []
        for account in accounts:
            try:
                await admin.create(account)
                created = True
            except AlreadyExists:
                created = False
                found = (await admin.get(account.principal.id)).principal
                if found.role is not account.principal.role:
                    raise AlreadyExists(
                        f"principal {found.id} exists as a {found.role.value}", reason="PRINCIPAL_EXISTS"
                    ) from None
            _, key = await admin.create_api_key(account.principal.id, description, None)
            done.append(Provisioned(await admin.get(account.principal.id), created, key))
        return done
    finally:
        await pool.close()


def provision(
    url: str, keyring: Keyring, accounts: Sequence[PrincipalAccount], *, description: str
) -> list[Provisioned]:
    """Make sure each principal exists (an existing one with the same role is left as it is; another role is
    AlreadyExists) and give each a new API key. ``keyring`` holds the register's data keys, which seal whatever
    login secrets the administration writes, as a worker's do."""
    return asyncio.run(_provision(url, keyring, accounts, description))


def record_maintenance(url: str, action: str, subject: str = "", details: Mapping[str, str] | None = None) -> None:
    """Put a maintenance command (key rotation, bootstrap) in the audit log, as the operating-system user who ran
    it: the chain covers what administrators do outside the RPCs too."""
    event = AuditEvent(
        time=utc_now(),
        actor=f"maintenance:{getpass.getuser()}@{socket.gethostname()}",
        actor_role="ADMIN",
        action=action,
        outcome=AuditOutcome.OK,
        subject=subject,
        details=dict(details or {}),
    )

    async def append() -> None:
        pool = create_pool(url, min_size=1, max_size=1, acquire_timeout=10, statement_timeout_ms=30_000,
                           application_name="fapiao-maintenance")  # fmt: skip
        await pool.open(wait=True)
        try:
            await PostgresAuditLog(pool).append([event])
        finally:
            await pool.close()

    asyncio.run(append())
