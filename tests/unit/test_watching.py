"""Status tracking's pure parts: cursors, a subscription that falls behind, and the feed handing each event to
the watchers it concerns. The history here is a fake: an in-memory list whose "stable" part ends where the
test says, as PostgreSQL's ends below the oldest running transaction."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from fapiao_server.domain.errors import InvalidArgument
from fapiao_server.domain.events import EventPosition, EventType, InvoiceEvent
from fapiao_server.domain.invoice import InvoiceReference, InvoiceState
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.services import watching
from fapiao_server.services.ports import EventFilter
from fapiao_server.services.watching import EventFeed, Subscription, decode_cursor, encode_cursor, watch

SELLER, BUYER, OTHER_SELLER = "91310115MA1K4QXC4B", "91440300MA5FUT0E3L", "91110108MA01R3B85J"
NOW = datetime(2026, 11, 27, tzinfo=UTC)
WAIT = 5.0  # seconds; only a broken feed ever waits this long


def _event(
    xid: int, event_id: int, invoice_id: int = 1, seller: str = SELLER, buyer: str = BUYER, region: str = "3100"
) -> InvoiceEvent:
    return InvoiceEvent(
        position=EventPosition(xid, event_id),
        event_type=EventType.CERTIFIED,
        invoice=InvoiceReference(invoice_id, InvoiceType.VAT_SPECIAL, "3100259100", f"{invoice_id:08d}"),
        seller_tax_id=seller,
        buyer_tax_id=buyer,
        region_code=region,
        actor="test",
        event_time=NOW,
        state_after=InvoiceState.ISSUED,
        state_before=InvoiceState.ISSUED,
    )


@dataclass
class FakeHistory:
    """The two reads the watchers make. ``horizon``: events with xid below it are stable (None: all)."""

    events: list[InvoiceEvent] = field(default_factory=list)
    horizon: int | None = None
    reads: int = 0
    read: asyncio.Event = field(default_factory=asyncio.Event)  # set by every read

    def _stable(self) -> list[InvoiceEvent]:
        ordered = sorted(self.events, key=lambda e: (e.position.xid, e.position.id))
        return [e for e in ordered if self.horizon is None or e.position.xid < self.horizon]

    async def stable_events(self, where: EventFilter | None, *, after: EventPosition, limit: int) -> list[InvoiceEvent]:
        self.reads += 1
        await asyncio.sleep(0)
        found = [e for e in self._stable() if after < e.position and (where is None or where.matches(e))]
        self.read.set()
        return found[:limit]

    async def stable_head(self) -> EventPosition:
        stable = self._stable()
        return stable[-1].position if stable else EventPosition(0, 0)


@pytest.fixture
async def running() -> AsyncIterator[tuple[FakeHistory, EventFeed]]:
    history = FakeHistory()
    feed = EventFeed(history)  # type: ignore[arg-type]
    task = asyncio.create_task(feed.run())
    yield history, feed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- cursors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [EventPosition(0, 0), EventPosition(741, 12), EventPosition(2**63 - 1, 2**63 - 1)])
def test_a_cursor_gives_back_its_position(position: EventPosition) -> None:
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_cursor_means_from_now_on() -> None:
    assert decode_cursor("") is None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%%",
        _b64("12"),
        _b64("12.x"),
        _b64("1.2.3"),
        _b64("-1.5"),
        _b64("5.-1"),
        base64.urlsafe_b64encode("七.八".encode()).decode(),
        "A" * 65,
        # Numbers beyond what the register stores (xid8, bigint) cannot come from it either.
        _b64(f"{2**63}.1"),
        _b64(f"1.{2**63}"),
        _b64("9" * 30 + ".1"),
    ],
)
def test_a_cursor_the_service_did_not_hand_out_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_cursor(cursor)
    assert refused.value.reason == "INVALID_CURSOR"
    assert [v.field for v in refused.value.violations] == ["cursor"]


# --- a subscription that falls behind ----------------------------------------------------------------------


def test_a_full_subscription_is_marked_lagged_and_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watching, "QUEUE_LIMIT", 3)
    subscription = Subscription(EventFilter(invoice_id=1))
    for n in range(3):
        subscription.offer(_event(10, n))
    assert not subscription.lagged and subscription.queue.qsize() == 3
    subscription.offer(_event(10, 3))
    assert subscription.lagged
    assert subscription.queue.empty(), "a lagged watcher reads the history; what was queued is dropped"
    subscription.offer(_event(10, 4))
    assert subscription.queue.empty(), "nothing is queued while the watcher catches up from the history"


# --- the feed ----------------------------------------------------------------------------------------------


async def _drain(subscription: Subscription, count: int) -> list[EventPosition]:
    got = [(await asyncio.wait_for(subscription.queue.get(), WAIT)).position for _ in range(count)]
    await asyncio.sleep(0.05)
    assert subscription.queue.empty(), "more events than expected"
    return got


async def test_the_feed_hands_each_event_to_the_watchers_of_its_invoice_its_parties_and_its_region(
    running: tuple[FakeHistory, EventFeed],
) -> None:
    history, feed = running
    one, two = feed.subscribe(EventFilter(invoice_id=1)), feed.subscribe(EventFilter(invoice_id=2))
    seller, buyer = feed.subscribe(EventFilter(tax_id=SELLER)), feed.subscribe(EventFilter(tax_id=BUYER))
    other = feed.subscribe(EventFilter(tax_id=OTHER_SELLER))
    shanghai, beijing = feed.subscribe(EventFilter(region="3100")), feed.subscribe(EventFilter(region="1100"))
    await asyncio.wait_for(feed.started(), WAIT)
    history.events += [
        _event(20, 1, invoice_id=1),
        _event(20, 2, invoice_id=2, seller=OTHER_SELLER, buyer=BUYER, region="1100"),
        _event(21, 3, invoice_id=3, seller=OTHER_SELLER, buyer="", region="1100"),
        _event(22, 4, invoice_id=1),
    ]
    feed.wake()
    p1, p2, p3, p4 = (e.position for e in history.events)
    assert await _drain(one, 2) == [p1, p4]
    assert await _drain(two, 1) == [p2]
    assert await _drain(seller, 2) == [p1, p4]
    assert await _drain(buyer, 3) == [p1, p2, p4]
    assert await _drain(other, 2) == [p2, p3]
    assert await _drain(shanghai, 2) == [p1, p4]
    assert await _drain(beijing, 2) == [p2, p3]


def test_an_event_filter_names_exactly_one_thing() -> None:
    for bad in ({}, {"invoice_id": 1, "tax_id": SELLER}, {"tax_id": SELLER, "region": "1100"}):
        with pytest.raises(ValueError):
            EventFilter(**bad)  # type: ignore[arg-type]


async def test_the_feed_starts_after_what_was_written_before_anyone_subscribed(
    running: tuple[FakeHistory, EventFeed],
) -> None:
    history, feed = running
    history.events.append(_event(5, 1))
    subscription = feed.subscribe(EventFilter(invoice_id=1))
    await asyncio.wait_for(feed.started(), WAIT)
    history.events.append(_event(6, 2))
    feed.wake()
    assert await _drain(subscription, 1) == [EventPosition(6, 2)]


async def test_the_feed_waits_for_an_older_transaction_and_keeps_the_register_order(
    running: tuple[FakeHistory, EventFeed],
) -> None:
    history, feed = running
    subscription = feed.subscribe(EventFilter(tax_id=SELLER))
    await asyncio.wait_for(feed.started(), WAIT)
    history.horizon = 30  # transaction 30 is still running
    history.events += [_event(31, 7), _event(29, 6)]
    feed.wake()
    assert await _drain(subscription, 1) == [EventPosition(29, 6)]
    history.events.append(_event(30, 8))  # 30 commits late, with a later id than 31's event
    history.horizon = None
    feed.wake()
    assert await _drain(subscription, 2) == [EventPosition(30, 8), EventPosition(31, 7)]


async def test_an_unsubscribed_watcher_gets_nothing_more(running: tuple[FakeHistory, EventFeed]) -> None:
    history, feed = running
    staying, leaving = feed.subscribe(EventFilter(invoice_id=1)), feed.subscribe(EventFilter(invoice_id=1))
    await asyncio.wait_for(feed.started(), WAIT)
    feed.unsubscribe(leaving)
    feed.unsubscribe(leaving)  # twice is harmless
    history.events.append(_event(40, 1))
    feed.wake()
    assert await _drain(staying, 1) == [EventPosition(40, 1)]
    assert leaving.queue.empty()


async def test_a_feed_nobody_watches_reads_nothing(running: tuple[FakeHistory, EventFeed]) -> None:
    history, feed = running
    subscription = feed.subscribe(EventFilter(invoice_id=1))
    await asyncio.wait_for(feed.started(), WAIT)
    feed.unsubscribe(subscription)
    await asyncio.sleep(0.05)
    reads = history.reads
    history.events.append(_event(50, 1))
    feed.wake()
    await asyncio.sleep(0.2)
    assert history.reads == reads


# --- watch: catch-up, live, lag ----------------------------------------------------------------------------


async def _take(stream: AsyncIterator[tuple[list[InvoiceEvent], EventPosition]], count: int) -> list[EventPosition]:
    """The positions of the next ``count`` events; each batch's cursor is its last event's position."""
    got: list[EventPosition] = []
    while len(got) < count:
        events, position = await asyncio.wait_for(anext(stream), WAIT)
        if events:
            assert position == events[-1].position
        got += [e.position for e in events]
    return got


async def test_a_watch_from_a_cursor_catches_up_then_follows_without_repeating(
    running: tuple[FakeHistory, EventFeed],
) -> None:
    history, feed = running
    history.events += [_event(60, 1), _event(60, 2, invoice_id=9), _event(61, 3)]
    stream = watch(history, feed, EventFilter(invoice_id=1), EventPosition(60, 1), heartbeat_seconds=WAIT)  # type: ignore[arg-type]
    try:
        first, cursor = await asyncio.wait_for(anext(stream), WAIT)
        assert (first, cursor) == ([], EventPosition(60, 1))
        assert await _take(stream, 1) == [EventPosition(61, 3)]
        history.events += [_event(62, 4), _event(62, 5, invoice_id=9), _event(63, 6)]
        feed.wake()
        assert await _take(stream, 2) == [EventPosition(62, 4), EventPosition(63, 6)]
    finally:
        await stream.aclose()


async def test_a_watch_from_now_starts_at_the_stable_head(running: tuple[FakeHistory, EventFeed]) -> None:
    history, feed = running
    history.events += [_event(70, 1), _event(71, 2)]
    stream = watch(history, feed, EventFilter(tax_id=BUYER), None, heartbeat_seconds=WAIT)  # type: ignore[arg-type]
    try:
        assert await asyncio.wait_for(anext(stream), WAIT) == ([], EventPosition(71, 2))
        history.events.append(_event(72, 3))
        feed.wake()
        assert await _take(stream, 1) == [EventPosition(72, 3)]
    finally:
        await stream.aclose()


async def test_a_quiet_watch_sends_heartbeats_that_keep_its_cursor(running: tuple[FakeHistory, EventFeed]) -> None:
    history, feed = running
    history.events.append(_event(80, 1))
    stream = watch(history, feed, EventFilter(invoice_id=1), None, heartbeat_seconds=0.05)  # type: ignore[arg-type]
    try:
        assert await asyncio.wait_for(anext(stream), WAIT) == ([], EventPosition(80, 1))
        assert await asyncio.wait_for(anext(stream), WAIT) == ([], EventPosition(80, 1))
    finally:
        await stream.aclose()


async def test_a_lagging_watcher_reads_what_it_missed_from_the_history_in_order(
    running: tuple[FakeHistory, EventFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watching, "QUEUE_LIMIT", 4)
    history, feed = running
    stream = watch(history, feed, EventFilter(invoice_id=1), None, heartbeat_seconds=WAIT)  # type: ignore[arg-type]
    try:
        assert (await asyncio.wait_for(anext(stream), WAIT))[0] == []
        burst = [_event(90 + n // 3, n) for n in range(1, 31)]
        history.events += burst
        history.read.clear()
        feed.wake()
        await asyncio.wait_for(history.read.wait(), WAIT)  # the feed overflows the queue of the idle watcher
        assert await _take(stream, len(burst)) == [e.position for e in burst]
        history.events.append(_event(200, 31))
        feed.wake()
        assert await _take(stream, 1) == [EventPosition(200, 31)]
    finally:
        await stream.aclose()


async def test_a_closed_watch_unsubscribes(running: tuple[FakeHistory, EventFeed]) -> None:
    history, feed = running
    stream = watch(history, feed, EventFilter(invoice_id=1), None, heartbeat_seconds=WAIT)  # type: ignore[arg-type]
    await asyncio.wait_for(anext(stream), WAIT)
    await stream.aclose()
    await asyncio.sleep(0.05)
    reads = history.reads
    history.events.append(_event(300, 1))
    feed.wake()
    await asyncio.sleep(0.2)
    assert history.reads == reads, "the feed kept reading for a watcher that left"
