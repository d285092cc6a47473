"""Status tracking (发票状态跟踪): one feed per worker tails the register's history and fans each event out to the
watchers it concerns; a watcher that starts from a cursor, or falls behind, reads the history itself until it
meets the feed.

Positions are (transaction id, event id) and only events older than every running transaction are read (see
EventPosition), so "after cursor X" is exact: a reconnecting watcher misses nothing and sees nothing twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..domain.errors import FieldViolation, InvalidArgument, Unavailable
from ..domain.events import EventPosition, InvoiceEvent
from .ports import EventFilter, LifecycleStore

log = logging.getLogger(__name__)
# After a wake-up the feed looks again a little later: events whose transaction had a still-running older
# neighbour become readable only when that neighbour finishes.
FOLLOW_UP_DELAYS = (0.02, 0.1, 0.4)
IDLE_POLL_SECONDS = 1.0
FEED_BATCH = 1000
# A watcher that lets this many events pile up is cut loose and reads the history to catch up.
QUEUE_LIMIT = 10_000
MAX_BIGINT = 2**63 - 1


def encode_cursor(position: EventPosition) -> str:
    return base64.urlsafe_b64encode(f"{position.xid}.{position.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> EventPosition | None:
    """The position in a cursor ('' -> None); a cursor this service did not hand out is INVALID_ARGUMENT."""
    if not cursor:
        return None
    try:
        xid, _, event_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii").partition(".")
        position = EventPosition(int(xid), int(event_id))
        # Positions are read back as bigints: larger numbers never came from this service (and would fail its query).
        if not (0 <= position.xid <= MAX_BIGINT and 0 <= position.id <= MAX_BIGINT) or len(cursor) > 64:
            raise ValueError(cursor)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidArgument(
            [FieldViolation("cursor", "is not a cursor this service handed out")], reason="INVALID_CURSOR"
        ) from None
    return position


@dataclass(eq=False)
class Subscription:
    where: EventFilter
    # Events for the watcher; None is the feed closing (the server is shutting down).
    queue: asyncio.Queue[InvoiceEvent | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    lagged: bool = False
    closed: bool = False

    def offer(self, event: InvoiceEvent) -> None:
        if self.lagged or self.closed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True  # the watcher reads the history from its own position instead
            while not self.queue.empty():
                self.queue.get_nowait()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue is read soon, and closed is checked then
            self.queue.put_nowait(None)


class EventFeed:
    """Tails the history while anyone watches and hands each event to the matching subscriptions."""

    def __init__(self, store: LifecycleStore) -> None:
        self._store = store
        # Subscriptions by what they follow (EventFilter.key).
        self._following: defaultdict[tuple[str, int | str], set[Subscription]] = defaultdict(set)
        self._count = 0
        self._position: EventPosition | None = None
        self._wake = asyncio.Event()
        self._started = asyncio.Event()  # set once the feed holds a position taken after the first subscription
        self._closed = False

    def wake(self) -> None:
        """Something was written to the history (called on PostgreSQL's announcement)."""
        self._wake.set()

    def close(self) -> None:
        """End every watch (and refuse new ones) with UNAVAILABLE, so watchers reconnect with their cursor to a
        node that is not shutting down instead of being cut off when the grace period ends."""
        self._closed = True
        for members in self._following.values():
            for subscription in members:
                subscription.close()

    def subscribe(self, where: EventFilter) -> Subscription:
        subscription = Subscription(where)
        if self._closed:
            subscription.close()
        self._following[where.key].add(subscription)
        self._count += 1
        self._wake.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        key = subscription.where.key
        members = self._following.get(key)
        if members is not None and subscription in members:
            members.discard(subscription)
            if not members:
                del self._following[key]
            self._count -= 1

    @property
    def watchers(self) -> int:
        """Watches following the feed now (open WatchInvoices streams of this worker)."""
        return self._count

    @property
    def position(self) -> EventPosition | None:
        """Where the feed has read the history up to (None while nobody watches)."""
        return self._position

    async def started(self) -> None:
        """Wait until the feed follows the history from a position taken after the caller subscribed."""
        await self._started.wait()

    def _dispatch(self, event: InvoiceEvent) -> None:
        # Each subscription follows one key, so no subscription is offered an event twice.
        for key in EventFilter.keys_of(event):
            for subscription in self._following.get(key, ()):
                subscription.offer(event)

    async def _poll(self) -> int:
        assert self._position is not None
        delivered = 0
        while True:
            events = await self._store.stable_events(None, after=self._position, limit=FEED_BATCH)
            for event in events:
                self._dispatch(event)
            if events:
                self._position = events[-1].position
                delivered += len(events)
            if len(events) < FEED_BATCH:
                return delivered

    async def run(self) -> None:
        """Follow the history until cancelled. While nobody watches it reads nothing."""
        follow_ups: list[float] = []
        while True:
            if self._count == 0:
                self._position = None
                self._started.clear()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if self._position is None:
                    self._position = await self._store.stable_head()
                    self._started.set()
                self._wake.clear()
                await self._poll()
            except Exception:  # a database outage: keep the position and try again shortly
                log.warning("event feed could not read the history; retrying", exc_info=True)
                await asyncio.sleep(IDLE_POLL_SECONDS)
                continue
            timeout = follow_ups.pop(0) if follow_ups else IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
                follow_ups = list(FOLLOW_UP_DELAYS)


def _shutting_down() -> Unavailable:
    return Unavailable("this server is shutting down; reconnect with the last cursor to resume", reason="SHUTTING_DOWN")


async def watch(
    store: LifecycleStore,
    feed: EventFeed,
    where: EventFilter,
    after: EventPosition | None,
    *,
    heartbeat_seconds: float = 15.0,
    catch_up_batch: int = 500,
) -> AsyncIterator[tuple[list[InvoiceEvent], EventPosition]]:
    """Events for ``where`` after ``after`` (None: from now on), in order, each batch with the position after it.
    A batch with no events is a heartbeat that still moves the cursor on."""
    subscription = feed.subscribe(where)
    try:
        if subscription.closed:
            raise _shutting_down()
        await feed.started()
        # "From now on" starts where the feed stands (no query): at most a moment behind the newest stable event.
        position = after if after is not None else (feed.position or await store.stable_head())
        yield [], position

        async def catch_up() -> AsyncIterator[list[InvoiceEvent]]:
            nonlocal position
            while True:
                events = await store.stable_events(where, after=position, limit=catch_up_batch)
                if events:
                    position = events[-1].position
                    yield events
                if len(events) < catch_up_batch:
                    return

        async for events in catch_up():
            yield events, position
        while True:
            if subscription.closed:
                raise _shutting_down()
            if subscription.lagged:
                subscription.lagged = False
                async for events in catch_up():
                    yield events, position
                continue
            try:
                first = await asyncio.wait_for(subscription.queue.get(), heartbeat_seconds)
            except TimeoutError:
                yield [], position
                continue
            batch = [first]
            while not subscription.queue.empty():
                batch.append(subscription.queue.get_nowait())
            fresh = [event for event in batch if event is not None and position < event.position]
            if fresh:
                position = fresh[-1].position
                yield fresh, position
    finally:
        feed.unsubscribe(subscription)
