"""What the register must still hold after a fault, proven from its database against what callers were told:
no acknowledged invoice lost, none issued twice, no number skipped, every committed change with its audit event,
and every watch given each event of its taxpayer exactly once, in order."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .load import Load

ISSUED, VOIDED = 1, 2
VOIDED_STATE = 2
SERVICE = "/fapiao.v1.InvoiceService/"
AUDIT_ACTIONS = {ISSUED: SERVICE + "IssueInvoice", VOIDED: SERVICE + "VoidInvoice"}
# Any worker moves the audit outbox into the chain every couple of seconds.
OUTBOX_DRAIN_SECONDS = 30.0


def problems(database_url: str, load: Load) -> list[str]:
    """Everything wrong, one line each; empty when the register kept its word."""
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        return problems_in(conn, load)


def problems_in(conn: psycopg.Connection[Any], load: Load) -> list[str]:
    """``problems`` on a connection of the caller's (with ``dict_row`` rows)."""
    return [
        *_unanswered(load),
        *_issues(conn, load),
        *_voids(conn, load),
        *_numbering(conn),
        *_audit(conn, load),
        *_watches(conn, load),
    ]


def _unanswered(load: Load) -> list[str]:
    """Every change is answered in the end, and an issue is never refused: the load sends only valid invoices, so
    each failure must be one to send again, and sending it again must succeed."""
    found = [
        f"{what} {change.request_id}: still failing after {len(change.failures)} attempts: {change.failures[-3:]}"
        for what, changes in (("issue", load.issues), ("void", load.voids))
        for change in changes.values()
        if change.gave_up
    ]
    return found + [f"issue {c.request_id} refused: {c.refused}" for c in load.issues.values() if c.refused]


def _issues(conn: psycopg.Connection[Any], load: Load) -> list[str]:
    found = []
    keys = {
        row["request_id"]: row
        for row in conn.execute(
            "SELECT k.request_id::text, k.result_id, i.invoice_number, i.invoice_code FROM idempotency_keys k"
            " LEFT JOIN invoices i ON i.id = k.result_id WHERE k.request_id = ANY(%s::uuid[])",
            [list(load.issues)],
        )
    }
    for change in load.acknowledged():
        invoice = change.acknowledged
        assert invoice is not None
        row = keys.get(change.request_id)
        if row is None or row["result_id"] != int(invoice.id):
            found.append(f"lost: request {change.request_id} was acknowledged as invoice {invoice.id}, holds {row}")
        elif (row["invoice_code"], row["invoice_number"]) != (invoice.invoice_code, invoice.invoice_number):
            found.append(f"changed: invoice {invoice.id} was acknowledged as {invoice.invoice_number}, holds {row}")
    given = Counter(change.acknowledged.id for change in load.acknowledged() if change.acknowledged)
    found += [f"duplicated: invoice {i} was acknowledged to {n} requests" for i, n in given.items() if n > 1]
    # Every invoice of the run's sellers is the result of one request id the load sent: anything else was issued
    # twice (a retry that did not find its first attempt) or out of nowhere.
    explained = {row["result_id"] for row in keys.values()}
    for row in conn.execute(
        "SELECT id FROM invoices WHERE seller_tax_id = ANY(%s) AND original_invoice_id IS NULL", [load.sellers]
    ):
        if row["id"] not in explained:
            found.append(f"duplicated: invoice {row['id']} belongs to no request id the callers sent")
    for row in conn.execute(
        "SELECT invoice_id, count(*) AS n FROM invoice_events WHERE seller_tax_id = ANY(%s) AND event_type = %s"
        " GROUP BY invoice_id HAVING count(*) <> 1",
        [load.sellers, ISSUED],
    ):
        found.append(f"history: invoice {row['invoice_id']} has {row['n']} ISSUED events")
    return found


def _voids(conn: psycopg.Connection[Any], load: Load) -> list[str]:
    found = []
    acknowledged = [change for change in load.voids.values() if change.acknowledged is not None]
    refused = [change for change in load.voids.values() if change.refused]
    found += [f"void {change.target} refused: {change.refused}" for change in refused]
    states = {
        str(row["id"]): row
        for row in conn.execute(
            "SELECT i.id, i.state, (SELECT count(*) FROM invoice_events e WHERE e.invoice_id = i.id AND"
            " e.event_type = %s) AS voids FROM invoices i WHERE i.id = ANY(%s::bigint[])",
            [VOIDED, [int(change.target) for change in acknowledged]],
        )
    }
    for change in acknowledged:
        row = states.get(change.target)
        if row is None or row["state"] != VOIDED_STATE or row["voids"] != 1:
            found.append(f"void lost: invoice {change.target} acknowledged voided, holds {row}")
    return found


def _numbering(conn: psycopg.Connection[Any]) -> list[str]:
    """Each counter's numbers, 1 up to the one before its next value, each held by exactly one invoice."""
    found = []
    for counter in conn.execute("SELECT prefix, next_value FROM number_counters"):
        prefix, next_value = counter["prefix"], counter["next_value"]
        if len(prefix) == 5:  # 数电: the number's first five digits
            rows = conn.execute(
                "SELECT substr(invoice_number, 6)::bigint AS value FROM invoices"
                " WHERE invoice_code = '' AND left(invoice_number, 5) = %s",
                [prefix],
            )
        else:
            rows = conn.execute(
                "SELECT invoice_number::bigint AS value FROM invoices WHERE invoice_code = %s", [prefix]
            )
        values = sorted(row["value"] for row in rows)
        if values != list(range(1, next_value)):
            missing = sorted(set(range(1, next_value)) - set(values))
            found.append(
                f"numbering: prefix {prefix} holds {len(values)} numbers for counter {next_value - 1},"
                f" missing {missing[:10]}"
            )
    return found


def _audit(conn: psycopg.Connection[Any], load: Load) -> list[str]:
    """Every ISSUED and VOIDED event of the run has its OK audit event, moved into the chain by now."""
    deadline = time.monotonic() + OUTBOX_DRAIN_SECONDS
    while conn.execute("SELECT count(*) AS n FROM audit_outbox").fetchone()["n"]:  # type: ignore[index]
        if time.monotonic() > deadline:
            return ["audit: the outbox was not moved into the chain within 30 s"]
        time.sleep(0.2)
    rows = conn.execute(
        "SELECT e.id, e.event_type, e.invoice_id FROM invoice_events e WHERE e.seller_tax_id = ANY(%s)"
        " AND e.event_type = ANY(%s) AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.subject ="
        " 'invoices/' || e.invoice_id AND a.outcome = 'OK' AND a.action = CASE e.event_type WHEN %s THEN %s ELSE %s"
        " END)",
        [load.sellers, list(AUDIT_ACTIONS), ISSUED, AUDIT_ACTIONS[ISSUED], AUDIT_ACTIONS[VOIDED]],
    ).fetchall()
    return [
        f"audit: event {row['id']} (type {row['event_type']}) of invoice {row['invoice_id']} has none" for row in rows
    ]


def _watches(conn: psycopg.Connection[Any], load: Load) -> list[str]:
    found = []
    for watched in load.watches.values():
        if watched.error:
            found.append(f"watch {watched.tax_id} ended: {watched.error}")
        expected = [
            str(row["id"])
            for row in conn.execute(
                "SELECT id FROM invoice_events WHERE seller_tax_id = %(t)s OR buyer_tax_id = %(t)s ORDER BY xid, id",
                {"t": watched.tax_id},
            )
        ]
        got = watched.event_ids
        repeated = [event for event, n in Counter(got).items() if n > 1]
        missed = sorted(set(expected) - set(got), key=int)
        if repeated:
            found.append(f"watch {watched.tax_id}: {len(repeated)} events delivered twice, e.g. {repeated[:5]}")
        if missed:
            found.append(f"watch {watched.tax_id}: missed {len(missed)} of {len(expected)} events, e.g. {missed[:5]}")
        if not repeated and not missed and got != expected:
            found.append(f"watch {watched.tax_id}: events out of the register's order")
    return found
