"""The register's data keys in PostgreSQL: created on first start, unwrapped into a worker's Keyring, and kept
current (a write checks which key is primary; a read that meets a key id it does not know reloads)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import psycopg

from ..storage.database import storage_errors
from ..storage.queries import query
from .encryption import KEY_BYTES, Keyring, MasterKey, StoredDataKey


def _stored(rows: Iterable[tuple[Any, ...]]) -> list[StoredDataKey]:
    return [StoredDataKey(key_id, state, bytes(wrapped), fingerprint) for key_id, state, wrapped, fingerprint in rows]


def create_primary_key(conn: psycopg.Connection[Any], master: MasterKey) -> int:
    """Make a fresh data key the primary one (the old primary is retiring); returns its id. Run it inside a
    transaction: the caller commits."""
    conn.execute(query("lock_data_keys"))
    row = conn.execute(query("next_data_key_id")).fetchone()
    assert row is not None  # nextval always answers
    key_id = row[0]
    conn.execute(query("demote_primary_data_key"))
    wrapped = master.wrap(key_id, os.urandom(KEY_BYTES))
    conn.execute(query("insert_data_key"), {"id": key_id, "wrapped": wrapped, "fingerprint": master.fingerprint})
    return key_id


def rewrap_keys(url: str, keyring: Keyring) -> list[int]:
    """Wrap every data key under the keyring's master key that some other master key wraps (the previous one,
    while the master key is replaced); returns their ids. One transaction, under the data keys' lock: a worker
    reads either every key as it was or every key rewrapped. MasterKeyMismatch if a key does not unwrap."""
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(query("lock_data_keys"))
        moved = []
        for stored in _stored(conn.execute(query("data_keys")).fetchall()):
            if stored.master_fingerprint == keyring.master.fingerprint:
                continue
            data_key = keyring.master_of(stored).unwrap(stored)
            wrapped = keyring.master.wrap(stored.id, data_key)
            conn.execute(
                query("rewrap_data_key"),
                {"id": stored.id, "wrapped": wrapped, "fingerprint": keyring.master.fingerprint},
            )
            moved.append(stored.id)
        return moved


def reload_keys_sync(conn: psycopg.Connection[Any], keyring: Keyring) -> None:
    keyring.install(_stored(conn.execute(query("data_keys")).fetchall()))


def prepare_keys(url: str, keyring: Keyring) -> None:
    """Fill ``keyring`` with the register's data keys, creating the first one if there is none; MasterKeyMismatch
    if its master key cannot unwrap the stored keys (the worker or command must not go on)."""
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(query("lock_data_keys"))
            if conn.execute(query("primary_data_key")).fetchone() is None:
                create_primary_key(conn, keyring.master)
        reload_keys_sync(conn, keyring)


def follow_primary_sync(conn: psycopg.Connection[Any], keyring: Keyring) -> None:
    """Reload the keys if another process made a new one primary (before sealing a batch)."""
    row = conn.execute(query("primary_data_key")).fetchone()
    if row is None or row[0] != keyring.primary_id:
        reload_keys_sync(conn, keyring)


async def reload_keys(conn: psycopg.AsyncConnection[Any], keyring: Keyring) -> None:
    keyring.install(_stored(await (await conn.execute(query("data_keys"))).fetchall()))


async def follow_primary(conn: psycopg.AsyncConnection[Any], keyring: Keyring, primary: tuple[int] | None) -> None:
    """Reload the keys if ``primary`` (the ``primary_data_key`` row the write read) is not this worker's."""
    if primary is None or primary[0] != keyring.primary_id:
        await reload_keys(conn, keyring)


async def keep_keys_for(conn: psycopg.AsyncConnection[Any], keyring: Keyring, rows: Iterable[dict[str, Any]]) -> None:
    """Before opening ``rows`` (with their ``data_key_id``): reload the keys if one of them is new to this worker,
    so rows sealed with a key created after it started open at once."""
    if not keyring.knows(row["data_key_id"] for row in rows):
        await reload_keys(conn, keyring)
