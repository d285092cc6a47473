"""The near cache: hits, negative entries, and never keeping a copy that an invalidation overtook."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fapiao_server.cache.near import NearCache
from fapiao_server.domain.invoice import Invoice, InvoiceKey, InvoiceState, Party
from fapiao_server.domain.invoice_types import InvoiceType

NOW = datetime(2026, 11, 27, tzinfo=UTC)
KEY = InvoiceKey("", "25110000000000000001")
OTHER = InvoiceKey("", "25110000000000000002")


def _invoice(number: str = KEY.invoice_number) -> Invoice:
    party = Party("9144030071526726XG", "s")
    return Invoice(
        id=1, invoice_type=InvoiceType.DIGITAL_GENERAL, invoice_code="", invoice_number=number,
        issue_date=date(2026, 11, 1), issue_time=NOW, state=InvoiceState.ISSUED, seller=party, buyer=party,
        amount_fen=100, tax_fen=13, total_fen=113, region_code="1100", update_time=NOW,
    )  # fmt: skip


def _near() -> NearCache:
    return NearCache(max_entries=100, ttl_seconds=60, negative_ttl_seconds=30)


def test_hits_and_negative_entries() -> None:
    near = _near()
    assert near.get(KEY) == (False, None)
    near.put(KEY, _invoice(), near.mark())
    near.put(OTHER, None, near.mark())
    assert near.get(KEY) == (True, _invoice())
    assert near.get(OTHER) == (True, None)


def test_a_copy_overtaken_by_an_invalidation_of_its_key_is_not_kept() -> None:
    near = _near()
    mark = near.mark()
    near.invalidate([KEY])  # the invoice changed while it was being looked up
    near.put(KEY, _invoice(), mark)
    near.put(OTHER, None, mark)  # other keys are unaffected
    assert near.get(KEY) == (False, None)
    assert near.get(OTHER) == (True, None)
    near.put(KEY, _invoice(), near.mark())  # a lookup that began after the change may keep its copy
    assert near.get(KEY)[0]


def test_a_clear_overtakes_every_lookup_in_flight() -> None:
    near = _near()
    near.put(KEY, _invoice(), near.mark())
    mark = near.mark()
    near.clear()
    near.put(OTHER, None, mark)
    assert near.get(KEY) == (False, None) and near.get(OTHER) == (False, None)


def test_remembering_too_many_invalidations_falls_back_to_a_clear() -> None:
    near = _near()
    near.put(OTHER, None, near.mark())
    near.invalidate(InvoiceKey("", f"25110{i:015d}") for i in range(10_001))
    assert near.get(OTHER) == (False, None)
