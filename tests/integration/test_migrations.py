"""Migrations: equal to schema.sql, safe to run from many workers at once, idempotent, partitions kept."""

from __future__ import annotations

import threading
from datetime import date
from importlib.resources import files

import psycopg
import pytest

from fapiao_server.domain.calendar import utc_now
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.migrations import available_migrations, migrate, pending_migrations
from fapiao_server.storage.queries import query
from tests.support.keys import shared_keyring
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

from .schema_catalog import describe_schema

TODAY = date(2026, 11, 27)


def test_migrations_produce_exactly_schema_sql(pg_admin_url: str) -> None:
    with fresh_database(pg_admin_url, "migrated") as migrated, fresh_database(pg_admin_url, "schema") as scripted:
        migrate(migrated, today=TODAY)
        with psycopg.connect(scripted, autocommit=True) as conn:
            conn.execute(files("fapiao_server.storage").joinpath("schema.sql").read_text().encode())
            conn.execute(query("ensure_verification_partitions"), {"start": TODAY, "months": 3})
        assert describe_schema(scripted) == describe_schema(migrated)


def test_concurrent_migrators_apply_each_migration_once(pg_admin_url: str) -> None:
    with fresh_database(pg_admin_url, "race") as url:
        results: list[int] = []
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def run() -> None:
            try:
                start.wait()
                results.append(len(migrate(url, today=TODAY)))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert sorted(results) == [0] * 5 + [len(available_migrations())]
        with psycopg.connect(url) as conn:
            versions = [row[0] for row in conn.execute("SELECT version FROM fapiao_schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in available_migrations()]
        assert pending_migrations(url) == []


def test_partitions_cover_this_and_coming_months_and_absorb_early_rows(pg_admin_url: str) -> None:
    with fresh_database(pg_admin_url, "parts") as url:
        migrate(url, today=TODAY)
        with psycopg.connect(url, autocommit=True) as conn:
            names = {
                row[0]
                for row in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'verification_records_2%'")
            }
            assert {
                "verification_records_2026_11",
                "verification_records_2026_12",
                "verification_records_2027_01",
            } <= names
            conn.execute(
                "INSERT INTO verification_records (id, verified_at, caller, channel, invoice_code, invoice_number,"
                " issue_date, outcome) VALUES (1, '2027-03-05 10:00+00', 't', 1, '', '1', '2027-03-01', 3)"
            )
            where = "SELECT tableoid::regclass::text FROM verification_records WHERE id = 1"
            assert conn.execute(where).fetchone() == ("verification_records_default",)
            conn.execute(query("ensure_verification_partitions"), {"start": date(2027, 3, 1), "months": 1})
            assert conn.execute(where).fetchone() == ("verification_records_2027_03",)


def test_migrations_ship_in_the_package_numbered_from_one() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


def test_record_id_blocks_match_the_sequence_increment(database_url: str) -> None:
    from fapiao_server.storage.verification_records import ID_BLOCK

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT increment_by FROM pg_sequences WHERE sequencename = 'verification_records_id_seq'")
        assert row.fetchone() == (ID_BLOCK,)


def test_0009_gives_events_written_before_it_their_invoices_region(pg_admin_url: str) -> None:
    """A register upgraded from 0008: its history gets each invoice's region, and stays append-only."""
    with fresh_database(pg_admin_url, "regions") as url:
        migrate(url, today=TODAY)
        seed_register(url, 300, shared_keyring(url), seed=9, now=utc_now(), batch_size=100, signer=fleet_signing_key())
        with psycopg.connect(url, autocommit=True) as conn:  # back to how 0008 left it
            conn.execute("DROP INDEX invoices_region_idx")
            conn.execute("ALTER TABLE invoice_events DROP COLUMN region_code")
            conn.execute("DELETE FROM fapiao_schema_migrations WHERE version = 9")
        assert [m.version for m in migrate(url, today=TODAY)] == [9]
        with psycopg.connect(url, autocommit=True) as conn:
            counts = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE e.region_code = i.region_code), count(DISTINCT e.region_code)"
                " FROM invoice_events e JOIN invoices i ON i.id = e.invoice_id"
            ).fetchone()
            assert counts is not None and counts[0] >= 300 and counts[0] == counts[1] and counts[2] > 1, counts
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE invoice_events SET region_code = '0000'")
