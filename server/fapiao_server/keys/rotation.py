"""Data key rotation (`fapiao keys rotate`): a new primary key at once, then the rows moved onto it in small
batches while the register keeps serving, then the old keys retired once no row uses them. The rows are the
invoices (personal details) and the logins (TOTP secrets).

Every batch is its own short transaction that locks only its rows (``SKIP LOCKED``: a change in progress is not
waited for, its row is taken by a later batch), so an interrupted run loses nothing and a new run resumes where
it stopped. Re-encryption does not change an invoice: it neither moves ``updated_at`` nor announces a change to
caches (the ``fapiao.reencrypting`` setting, migration 0006). Nor does it change a login: its ``updated_at`` and
last TOTP step stay as they were."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from ..storage.database import storage_errors
from ..storage.queries import query
from .data_keys import create_primary_key, follow_primary_sync, reload_keys_sync
from .encryption import SEALED_INVOICE_COLUMNS, Keyring

BATCH_ROWS = 500
# How long to wait before looking again at rows a change holds locked.
LOCKED_ROWS_PAUSE_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """A data key and how many invoices and logins it seals; ``key_id`` None counts rows not sealed yet (carried
    over)."""

    key_id: int | None
    state: str
    invoices: int
    logins: int
    created_at: datetime | None
    retired_at: datetime | None
    # The master key that wraps it (its fingerprint); None for the carried-over row.
    master_fingerprint: str | None = None


def key_usage(url: str) -> list[KeyUsage]:
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(query("data_key_usage")).fetchall()
    return [
        KeyUsage(
            key_id,
            state or ("carried over" if key_id is None else "missing"),
            invoices,
            logins,
            created,
            retired,
            master,
        )
        for key_id, state, created, retired, invoices, logins, master in rows
    ]


def start_rotation(url: str, keyring: Keyring) -> int:
    """Create a new data key and make it primary; returns its id. Every worker seals with it from its next write
    (each write checks the primary key) and opens it at once (a read that meets an unknown key id reloads)."""
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            key_id = create_primary_key(conn, keyring.master)
        reload_keys_sync(conn, keyring)
    return key_id


def _rows_to_move(conn: psycopg.Connection[Any], source: int | None) -> int:
    if source is None:
        row = conn.execute(query("rows_carried_over")).fetchone()
    else:
        row = conn.execute(query("rows_on_data_key"), {"key": source}).fetchone()
    return row[0] if row else 0


def rows_to_reencrypt(url: str) -> int:
    """How many invoices and logins are not sealed with the primary key (carried-over ones and those on retiring
    keys)."""
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        return sum(_rows_to_move(conn, source) for source in _sources(conn))


def _sources(conn: psycopg.Connection[Any]) -> list[int | None]:
    return [None, *(row[0] for row in conn.execute(query("retiring_data_keys")).fetchall())]


def _reseal_batch(conn: psycopg.Connection[Any], keyring: Keyring, source: int | None, limit: int) -> int:
    """Move one batch of rows (up to ``limit`` invoices and as many logins) off ``source`` in one transaction; how
    many moved (0: none left unlocked)."""
    carried = source is None
    invoice_batch = query("sealed_batch_carried_over") if carried else query("sealed_batch_on_key")
    login_batch = query("sealed_logins_carried_over") if carried else query("sealed_logins_on_key")
    batch = {"key": source, "limit": limit}
    with conn.transaction():
        follow_primary_sync(conn, keyring)
        conn.execute(query("quiet_reencryption"))
        with conn.cursor(row_factory=dict_row) as cur:
            invoices = cur.execute(invoice_batch, batch).fetchall()
            logins = cur.execute(login_batch, batch).fetchall()
        if invoices:
            _reseal_invoices(conn, keyring, invoices)
        if logins:
            _reseal_logins(conn, keyring, logins)
    return len(invoices) + len(logins)


def _reseal_invoices(conn: psycopg.Connection[Any], keyring: Keyring, rows: list[dict[str, Any]]) -> None:
    params: dict[str, Any] = {"key": keyring.primary_id, "ids": [row["id"] for row in rows]}
    opened = [keyring.open_invoice(row) for row in rows]
    for column in SEALED_INVOICE_COLUMNS:
        params[column] = [
            keyring.seal(values[column], table="invoices", column=column, row_id=values["id"]) for values in opened
        ]
    conn.execute(query("reseal_invoices"), params)


def _reseal_logins(conn: psycopg.Connection[Any], keyring: Keyring, rows: list[dict[str, Any]]) -> None:
    ids = [row["principal_id"] for row in rows]
    secrets = [keyring.open_totp_secret(row["principal_id"], row["totp_secret"]) for row in rows]
    sealed = [keyring.seal_totp_secret(principal_id, secret) for principal_id, secret in zip(ids, secrets, strict=True)]
    conn.execute(query("reseal_logins"), {"key": keyring.primary_id, "ids": ids, "totp_secret": sealed})


def _retire(conn: psycopg.Connection[Any], key_id: int) -> bool:
    """Retire ``key_id`` if no row uses it, counted while writes are held, so no write sealed with it before the
    rotation can commit after the count. False if rows use it or the writes could not be held at once."""
    try:
        with conn.transaction():
            conn.execute(query("bound_lock_wait"))
            conn.execute(query("hold_sealed_writes"))
            return conn.execute(query("retire_data_key"), {"key": key_id}).fetchone() is not None
    except pg_errors.LockNotAvailable:
        return False


def reencrypt(
    url: str, keyring: Keyring, *, batch_rows: int = BATCH_ROWS, on_batch: Callable[[int], None] = lambda _n: None
) -> list[int]:
    """Move every row onto the primary key, batch by batch (``on_batch`` hears how many moved), then retire the
    keys no row uses any more; returns the retired key ids. Safe to run again after an interruption."""
    retired: list[int] = []
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        reload_keys_sync(conn, keyring)
        while True:
            for source in _sources(conn):
                while _rows_to_move(conn, source):
                    moved = _reseal_batch(conn, keyring, source, batch_rows)
                    if moved:
                        on_batch(moved)
                    else:  # what is left is locked by changes in progress: take it when they commit
                        time.sleep(LOCKED_ROWS_PAUSE_SECONDS)
                if source is not None and _retire(conn, source):
                    retired.append(source)
            # A key not retired above was written to after its count: go round again.
            if _sources(conn) == [None] and not _rows_to_move(conn, None):
                return retired
