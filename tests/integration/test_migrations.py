"""Migrations: equal to schema.sql, safe to run from many workers at once, idempotent, partitions kept."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date
from importlib.resources import files
from typing import Any

import psycopg
import pytest

from fapiao_server.domain.calendar import utc_now
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.migrations import available_migrations, migrate, pending_migrations
from fapiao_server.storage.queries import query
from tests.support.keys import shared_keyring
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

from .schema_catalog import describe_schema, schema_differences

TODAY = date(2026, 11, 27)
SCHEMA_SQL = files("fapiao_server.storage").joinpath("schema.sql").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def migrated_schema(pg_admin_url: str) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """The catalog of a database built by every migration, as `fapiao migrate` builds a register."""
    with fresh_database(pg_admin_url, "migrated") as url:
        migrate(url, today=TODAY)
        yield describe_schema(url)


def scripted_schema(pg_admin_url: str, script: str) -> dict[str, list[tuple[Any, ...]]]:
    """The catalog of a database built by ``script`` alone, with the partitions migrate() keeps ready."""
    with fresh_database(pg_admin_url, "schema") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(script.encode())
            conn.execute(query("ensure_verification_partitions"), {"start": TODAY, "months": 3})
        return describe_schema(url)


def test_migrations_produce_exactly_schema_sql(
    pg_admin_url: str, migrated_schema: dict[str, list[tuple[Any, ...]]]
) -> None:
    """schema.sql is what a reader learns the schema from: it must be exactly what the migrations build."""
    scripted = scripted_schema(pg_admin_url, SCHEMA_SQL)
    assert schema_differences(scripted, migrated_schema) == []
    assert scripted == migrated_schema
    # A catalog query that silently returned nothing would make any two schemas look equal.
    assert all(
        migrated_schema[kind]
        for kind in (
            "relations",
            "columns",
            "constraints",
            "indexes",
            "views",
            "functions",
            "triggers",
            "sequences",
            "partitions",
        )
    )


# Small changes to schema.sql, each of a kind the migrations could drift from it by; the comparison must see each.
DELIBERATE_DIFFERENCES = {
    "a column's default": (
        "    qr_payload           text NOT NULL DEFAULT '',\n",
        "    qr_payload           text NOT NULL,\n",
        "columns",
    ),
    "a column's type": ("    totp_secret    bytea NOT NULL,", "    totp_secret    text NOT NULL,", "columns"),
    "two columns' order": (
        "    signature_key_id     text,\n    signature            bytea,\n",
        "    signature            bytea,\n    signature_key_id     text,\n",
        "columns",
    ),
    "a function as an earlier migration left it": (
        "BEGIN\n    IF current_setting('fapiao.reencrypting', true) = 'on' THEN\n        RETURN NEW;\n    END IF;\n",
        "BEGIN\n",
        "functions",
    ),
    "an index's order": (
        "invoices_region_idx ON invoices (region_code, issue_time DESC, id DESC)",
        "invoices_region_idx ON invoices (region_code, issue_time, id)",
        "indexes",
    ),
    "the view's columns": ("    i.signature_key_id, i.signature\n", "    i.signature, i.signature_key_id\n", "views"),
    "a sequence's increment": (
        "verification_records_id_seq AS bigint INCREMENT BY 1000",
        "verification_records_id_seq AS bigint",
        "sequences",
    ),
    "a comment": (
        "CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);",
        "CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);\n"
        "COMMENT ON TABLE idempotency_keys IS 'AIP-155 request ids';",
        "comments",
    ),
}


@pytest.mark.parametrize("change", list(DELIBERATE_DIFFERENCES), ids=list(DELIBERATE_DIFFERENCES))
def test_the_comparison_sees_a_deliberate_difference(
    pg_admin_url: str, migrated_schema: dict[str, list[tuple[Any, ...]]], change: str
) -> None:
    old, new, kind = DELIBERATE_DIFFERENCES[change]
    assert SCHEMA_SQL.count(old) == 1, f"schema.sql no longer reads {old!r}: pick another change to make"
    scripted = scripted_schema(pg_admin_url, SCHEMA_SQL.replace(old, new))
    differences = schema_differences(scripted, migrated_schema)
    assert differences, f"{change} changed in schema.sql, yet the catalogs compare equal"
    assert any(line.startswith(f"{kind}: ") for line in differences), differences


def test_schema_sql_reads_as_the_end_state() -> None:
    """Each object once, in its final form: no step-by-step replay of the migrations for a reader to follow."""
    code = re.sub(r"--[^\n]*", "", SCHEMA_SQL)
    code = re.sub(r"\$\$.*?\$\$", "$$ $$", code, flags=re.S)  # function bodies are not DDL
    statements = [" ".join(s.split()) for s in code.split(";") if s.strip()]
    replayed = [
        s for s in statements if re.match(r"(?i)(DROP|CREATE OR REPLACE|ALTER (SEQUENCE|VIEW|FUNCTION|INDEX))\b", s)
    ]
    assert not replayed, replayed
    # The one ALTER TABLE left declares a foreign key between two tables that refer to each other.
    altered = [s for s in statements if re.match(r"(?i)ALTER TABLE\b", s)]
    assert altered == [
        "ALTER TABLE invoices ADD CONSTRAINT invoices_red_letter_form_id_fkey"
        " FOREIGN KEY (red_letter_form_id) REFERENCES red_letter_forms (id)"
    ]
    created = [
        (m[1].upper(), m[2])
        for s in statements
        if (m := re.match(r"(?i)CREATE (?:UNIQUE |CONSTRAINT )?(TABLE|INDEX|VIEW|FUNCTION|TRIGGER|SEQUENCE) (\w+)", s))
    ]
    assert len(created) == len(set(created)), sorted(c for c in created if created.count(c) > 1)


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
