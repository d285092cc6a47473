"""The checker is what makes the chaos suite mean anything, so it is shown to catch each thing it is for: after a
clean run under load, the record of what callers were told and the register's tables are damaged one way at a
time (the tables inside a transaction that is rolled back), and each damage must be reported."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.invoices import tax_id

from .checker import problems_in
from .fleet import ChaosFleet
from .load import PAPER_GENERAL, Load

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_the_checker_reports_each_kind_of_damage(fleet: ChaosFleet) -> None:
    sellers = [tax_id("110108"), tax_id("310115")]
    url = fleet.database_url
    load = Load(
        fleet.target,
        taxpayer_key=principal_key(url, Role.TAXPAYER, tax_ids=sellers),
        verifier_key=principal_key(url, Role.VERIFIER),
        sellers=sellers,
        issuers=2,
        verifiers=1,
    ).start()
    load.run_for(3)
    load.stop()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        assert problems_in(conn, load) == []
        _damage_the_record(conn, load)
        _damage_the_tables(conn, load)
        conn.rollback()
        assert problems_in(conn, load) == []


def _findings(conn: psycopg.Connection[Any], load: Load, expected: str) -> None:
    found = problems_in(conn, load)
    assert any(expected in line for line in found), (expected, found)


def _damage_the_record(conn: psycopg.Connection[Any], load: Load) -> None:
    change = load.acknowledged()[0]
    invoice = change.acknowledged
    assert invoice is not None
    real_id = invoice.id
    invoice.id = str(int(real_id) + 10_000_000)  # told an invoice the register does not hold under that request
    _findings(conn, load, f"lost: request {change.request_id}")
    invoice.id = real_id

    watched = next(w for w in load.watches.values() if len(w.event_ids) > 2)
    events = list(watched.event_ids)
    watched.event_ids.append(events[0])
    _findings(conn, load, "delivered twice")
    watched.event_ids[:] = events[1:]
    _findings(conn, load, "missed 1 of")
    watched.event_ids[:] = [events[1], events[0], *events[2:]]
    _findings(conn, load, "out of the register's order")
    watched.event_ids[:] = events

    change.gave_up = True
    _findings(conn, load, f"issue {change.request_id}: still failing")
    change.gave_up = False


def _damage_the_tables(conn: psycopg.Connection[Any], load: Load) -> None:
    paper = next(c.acknowledged for c in load.acknowledged() if c.kind == PAPER_GENERAL and c.acknowledged)
    assert paper is not None
    # A number skipped: the counter moved past one no invoice holds.
    (skipped,) = (
        conn.execute(
            "UPDATE number_counters SET next_value = next_value + 1 WHERE prefix = %s RETURNING next_value - 1",
            [paper.invoice_code],
        )
        .fetchone()
        .values()
    )  # type: ignore[union-attr]
    _findings(conn, load, f"numbering: prefix {paper.invoice_code}")
    # That number taken by an invoice no request asked for (a retry that issued a second invoice).
    (copy_id,) = (
        conn.execute(
            "INSERT INTO invoices SELECT (jsonb_populate_record(i, jsonb_build_object('id', (SELECT max(id) + 1 FROM"
            " invoices), 'invoice_number', lpad(%s::text, 8, '0')))).* FROM invoices i WHERE i.id = %s RETURNING id",
            [skipped, int(paper.id)],
        )
        .fetchone()
        .values()
    )  # type: ignore[union-attr]
    _findings(conn, load, f"duplicated: invoice {copy_id} belongs to no request id")
    # Its history written without the audit event a committed change must have; the watch never saw it either.
    conn.execute(
        "INSERT INTO invoice_events (event_type, invoice_id, seller_tax_id, buyer_tax_id, actor, state_after,"
        " region_code) SELECT 1, id, seller_tax_id, buyer_tax_id, 'nobody', 1, region_code FROM invoices WHERE id = %s",
        [copy_id],
    )
    _findings(conn, load, f"of invoice {copy_id} has none")
    _findings(conn, load, f"watch {paper.seller.tax_id}: missed 1 of")
