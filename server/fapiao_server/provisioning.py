"""Creating principals and API keys outside the running service: the first administrator
(`fapiao bootstrap-admin`), the demo principals of `fapiao serve --demo`, and test fleets. It goes through the
same use case as AdminService, straight to the database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from .domain.access import PrincipalAccount
from .domain.errors import AlreadyExists
from .services.administration import Administration
from .storage.access import PostgresAccess
from .storage.database import create_pool


@dataclass(frozen=True, slots=True)
class Provisioned:
    account: PrincipalAccount
    created: bool
    api_key: str


async def _provision(url: str, accounts: Sequence[PrincipalAccount], description: str) -> list[Provisioned]:
    pool = create_pool(url, min_size=1, max_size=2, acquire_timeout=10, statement_timeout_ms=30_000,
                       application_name="fapiao-provisioning")  # fmt: skip
    await pool.open(wait=True)
    try:
        admin = Administration(PostgresAccess(pool))
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


def provision(url: str, accounts: Sequence[PrincipalAccount], *, description: str) -> list[Provisioned]:
    """Make sure each principal exists (an existing one with the same role is left as it is; another role is
    AlreadyExists) and give each a new API key."""
    return asyncio.run(_provision(url, accounts, description))
