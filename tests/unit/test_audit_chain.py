"""The audit chain rule: hash = SHA-256(prev_hash || canonical(event)), and a verifier that names the first row
whose link does not hold, whether a row was altered, inserted or deleted."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fapiao_server.domain.audit import (
    GENESIS,
    MAX_DETAILS,
    MAX_TEXT,
    AuditEvent,
    AuditOutcome,
    ChainedEvent,
    ChainVerifier,
    chain,
    chain_hash,
    verify_chain,
)

T0 = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)


def event(n: int, **changes: object) -> AuditEvent:
    base = AuditEvent(
        time=T0 + timedelta(seconds=n),
        actor=f"acme-erp-{n}",
        action="/fapiao.v1.InvoiceService/VoidInvoice",
        outcome=AuditOutcome.OK,
        actor_role="TAXPAYER",
        subject=f"invoices/{n}",
        details={"request_id": f"r{n}", "code": "OK"},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def stored(events: list[AuditEvent], first_id: int = 1) -> list[ChainedEvent]:
    return [ChainedEvent(first_id + i, e, prev, digest) for i, (e, prev, digest) in enumerate(chain(events, GENESIS))]


def test_the_canonical_form_is_the_documented_length_prefixed_encoding() -> None:
    one = AuditEvent(time=T0, actor="a", action="auth.login", outcome=AuditOutcome.DENIED, details={"k": "v"})

    def item(text: str) -> bytes:
        return len(text.encode()).to_bytes(4, "big") + text.encode()

    expected = b"".join(
        item(t)
        for t in ("fapiao.audit.v1", "2026-11-28T01:02:03.456789Z", "a", "", "auth.login", "DENIED", "", "1", "k", "v")
    )
    assert one.canonical() == expected
    assert chain_hash(GENESIS, one) == hashlib.sha256(bytes(32) + expected).digest()


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    beijing = T0.astimezone(timezone(timedelta(hours=8)))
    assert event(0, time=beijing).canonical() == event(0).canonical()


def test_no_two_different_events_share_a_canonical_form() -> None:
    # Moving text from one field to the next must change the bytes: the length prefixes see to it.
    a = event(0, actor="ab", actor_role="")
    b = event(0, actor="a", actor_role="b")
    c = event(0, details={"ab": ""})
    d = event(0, details={"a": "b"})
    assert len({a.canonical(), b.canonical(), c.canonical(), d.canonical()}) == 4
    assert event(0, details={"x": "1", "y": "2"}).canonical() == event(0, details={"y": "2", "x": "1"}).canonical()


def test_each_hash_links_to_the_one_before() -> None:
    rows = stored([event(n) for n in range(3)])
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
        assert after.hash == hashlib.sha256(before.hash + after.event.canonical()).digest()


def test_an_untouched_chain_verifies() -> None:
    rows = stored([event(n) for n in range(10)])
    check = verify_chain(rows)
    assert check.intact and check.checked == 10 and check.last_id == 10 and check.head == rows[-1].hash


def test_an_empty_chain_verifies() -> None:
    check = verify_chain([])
    assert check.intact and check.checked == 0 and check.head == GENESIS


@pytest.mark.parametrize("field", ["actor", "action", "subject", "actor_role"])
def test_an_altered_row_is_named(field: str) -> None:
    rows = stored([event(n) for n in range(6)])
    rows[3] = dataclasses.replace(rows[3], event=dataclasses.replace(rows[3].event, **{field: "someone else"}))
    check = verify_chain(rows)
    assert check.first_broken_id == 4 and check.checked == 4 and check.last_id == 3
    assert "content" in check.problem


def test_an_altered_time_or_detail_is_named() -> None:
    for changed in ({"time": T0 + timedelta(microseconds=1)}, {"details": {"request_id": "r1", "code": "DENIED"}}):
        rows = stored([event(n) for n in range(3)])
        rows[1] = dataclasses.replace(rows[1], event=dataclasses.replace(rows[1].event, **changed))
        assert verify_chain(rows).first_broken_id == 2


def test_a_row_altered_and_rehashed_breaks_the_next_link() -> None:
    rows = stored([event(n) for n in range(4)])
    forged = dataclasses.replace(rows[1].event, outcome=AuditOutcome.OK, actor="nobody")
    rows[1] = dataclasses.replace(rows[1], event=forged, hash=chain_hash(rows[1].prev_hash, forged))
    check = verify_chain(rows)
    assert check.first_broken_id == 3 and "prev_hash" in check.problem


def test_a_deleted_row_is_detected_at_the_row_after_it() -> None:
    rows = stored([event(n) for n in range(5)])
    del rows[2]
    assert verify_chain(rows).first_broken_id == 4
    first_gone = stored([event(n) for n in range(3)])[1:]
    assert verify_chain(first_gone).first_broken_id == 2


def test_an_inserted_row_is_named() -> None:
    rows = stored([event(n) for n in range(4)])
    intruder = event(9)
    rows.insert(2, ChainedEvent(99, intruder, rows[1].hash, chain_hash(rows[1].hash, intruder)))
    # The intruder links well to the row before it, but the row after it no longer links to it.
    assert verify_chain(rows).first_broken_id == 3
    rows[2] = dataclasses.replace(rows[2], prev_hash=GENESIS)
    assert verify_chain(rows).first_broken_id == 99


def test_the_verifier_walks_chunks_and_stops_at_the_first_break() -> None:
    rows = stored([event(n) for n in range(10)])
    rows[7] = dataclasses.replace(rows[7], hash=bytes(32))
    rows[8] = dataclasses.replace(rows[8], prev_hash=bytes(32))
    verifier = ChainVerifier()
    assert verifier.feed(rows[:4])
    assert not verifier.feed(rows[4:])
    assert verifier.result.first_broken_id == 8 and verifier.result.checked == 8


def test_cleaning_makes_any_event_storable_and_is_stable() -> None:
    hostile = event(
        0,
        actor="a\x00b",
        subject="x" * 10_000,
        details={f"k{i:02d}": "\x00" for i in range(MAX_DETAILS + 5)},
    )
    clean = hostile.cleaned()
    assert clean.actor == "a\ufffdb" and len(clean.subject) == MAX_TEXT
    assert len(clean.details) == MAX_DETAILS and "\x00" not in "".join(clean.details.values())
    assert clean.cleaned() == clean


def test_an_event_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        event(0, time=datetime(2026, 11, 28))
