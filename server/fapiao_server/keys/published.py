"""The published signing keys in PostgreSQL: every key the register has signed with, never deleted."""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..domain.signing import PublishedKey
from ..storage.database import storage_errors
from ..storage.queries import query


def publish_signing_key(conn: psycopg.Connection, key_id: str, public_key: bytes) -> None:
    """Make the key listed (once); a new key retires the one it replaces."""
    with storage_errors():
        conn.execute(query("publish_signing_key"), {"key_id": key_id, "public_key": public_key})


class PostgresSigningKeys:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def list(self) -> list[PublishedKey]:
        with storage_errors():
            async with self._pool.connection() as conn:
                rows = await (await conn.execute(query("signing_keys"))).fetchall()
        return [
            PublishedKey(key_id, algorithm, bytes(public), activated, retired)
            for key_id, algorithm, public, activated, retired in rows
        ]
