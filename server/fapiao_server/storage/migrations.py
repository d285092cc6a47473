"""Schema migrations: numbered plain-SQL files applied in order, each in its own transaction.

Safe when several workers or nodes start together: the whole run holds a PostgreSQL advisory lock, so a
second migrator waits, then finds nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files

import psycopg

from .database import storage_errors
from .queries import query

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# How many months of verification-record partitions to keep ready ahead of time.
PARTITION_MONTHS_AHEAD = 3


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)


def available_migrations() -> list[Migration]:
    """Every migration shipped with this version, in order."""
    folder = files(__package__).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    # Numbers are handed out to branches in advance, so one may land before a lower one: a gap is allowed, a
    # number used twice is not.
    if not versions or versions[0] != 1 or len(set(versions)) != len(versions):
        raise RuntimeError("migrations must be numbered from 0001, each number once")
    return found


def migrate(url: str, *, today: date) -> list[Migration]:
    """Apply pending migrations and make sure this month's partitions exist; returns what was applied."""
    applied: list[Migration] = []
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query("lock_migrations"))
        try:
            conn.execute(query("create_migrations_table"))
            done = {row[0] for row in conn.execute(query("applied_migrations"))}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(query("record_migration"), {"version": migration.version, "name": migration.name})
                applied.append(migration)
            conn.execute(query("ensure_verification_partitions"), {"start": today, "months": PARTITION_MONTHS_AHEAD})
        finally:
            conn.execute(query("unlock_migrations"))
    return applied


def pending_migrations(url: str) -> list[Migration]:
    """Migrations not yet applied to the database at ``url`` (read only: it creates nothing)."""
    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        tracked = conn.execute(query("migrations_table_exists")).fetchone()
        done = {row[0] for row in conn.execute(query("applied_migrations"))} if tracked and tracked[0] else set()
    return [m for m in available_migrations() if m.version not in done]
