"""The audit log's use cases: record events without holding up the calls they describe; have a change's own
transaction record it; list them; verify the chain."""

from __future__ import annotations

import asyncio
import logging
from contextvars import Context, ContextVar
from dataclasses import dataclass, replace
from datetime import datetime

from ..domain.audit import AuditEvent, ChainCheck, ChainedEvent
from ..domain.errors import FieldViolation, InvalidArgument
from .paging import Page, decode_values, encode_values, fingerprint, page_limit
from .ports import AuditFilter, AuditStore

log = logging.getLogger(__name__)
# Events per transaction: one round trip and one commit for up to this many.
MAX_BATCH = 1000
# While the database is away events wait in memory, up to this many; past it the oldest are dropped (and the
# count logged), so an outage cannot take the worker's memory with it.
MAX_PENDING = 200_000
# How long the writer lets events gather before it takes a batch. Nobody waits for the write, so this costs no
# call anything; it turns one transaction per event at a few hundred calls a second into one per dozens.
LINGER_SECONDS = 0.2
# Backoff between failed writes.
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)


@dataclass
class CallAudit:
    """The audit event of the call under way (no subject yet), set by the transport for the call's task. A use case
    that commits a change writes it, with the change's subject, in the change's own transaction (so a worker
    killed after the commit cannot lose it), and marks it ``written``; the transport then records nothing more."""

    event: AuditEvent
    written: bool = False


CALL_AUDIT: ContextVar[CallAudit | None] = ContextVar("call_audit", default=None)


def call_audit() -> AuditEvent | None:
    """The audit event of the call under way, for its change's transaction to write (with the change's subject and
    time); None outside an audited call."""
    call = CALL_AUDIT.get()
    return None if call is None else call.event


def audit_of_change(now: datetime, subject: str | None = None) -> tuple[AuditEvent, ...]:
    """What a change's transaction writes to the outbox: the call's audit event at ``now``, naming ``subject`` (by
    default what the request named), or nothing outside an audited call. Only a transaction that will commit the
    change writes it; the use case then calls ``change_audited``."""
    event = call_audit()
    if event is None:
        return ()
    return (replace(event, time=now, subject=event.subject if subject is None else subject),)


def change_audited() -> None:
    """The change's transaction, which wrote ``call_audit``'s event, has committed."""
    call = CALL_AUDIT.get()
    if call is not None:
        call.written = True


class AuditLog:
    """One worker's writer into the audit log.

    ``record`` only queues the event: the RPC it describes never waits for a round trip. A single writer task
    lets events gather for ``linger_seconds``, then appends what has queued as one transaction (so one commit
    serves many events), and keeps retrying while the database is away. ``close`` writes what is queued before
    the worker exits. Each append also moves into the chain what changes wrote to the outbox (``call_audit``),
    from this worker or any other, killed ones included; ``wake`` asks for such an append soon.

    Not ``coalescing.Coalescer``: that one hands every caller the result of its batch and fails a batch's callers
    together; here nobody waits for a result, and a failed batch must be kept and retried, not handed back.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._max_pending = max_pending
        self._pending: list[AuditEvent] = []
        self._writer: asyncio.Task[None] | None = None
        self._dropped = 0  # ever, by this worker
        self._flushing = 0  # while someone waits for a flush the writer does not linger
        self._outbox = False  # the outbox may hold events: the writer appends even with nothing queued

    def record(self, event: AuditEvent) -> None:
        """Queue ``event`` (cleaned, see ``AuditEvent.cleaned``) for the chain; returns at once."""
        self._pending.append(event.cleaned())
        if len(self._pending) > self._max_pending:
            excess = len(self._pending) - self._max_pending
            del self._pending[:excess]
            self._dropped += excess
        self._start_writer()

    def wake(self) -> None:
        """A change wrote its event to the outbox: have it chained soon, with whatever else is queued."""
        self._outbox = True
        self._start_writer()

    async def collect_outbox(self) -> None:
        """Chain what the outbox holds now, left there by this worker or by one that died before its writer ran."""
        self.wake()
        await self.flush()

    def _start_writer(self) -> None:
        if self._writer is None:
            # A context of its own: it writes many calls' events and may outlive this one, so its log lines and
            # spans must not carry the trace, method and principal of the call that happened to start it.
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="audit-writer", context=Context())

    @property
    def pending(self) -> int:
        """Events queued and not yet committed."""
        return len(self._pending)

    @property
    def dropped(self) -> int:
        """Events given up, ever, because the queue was full while the database was away."""
        return self._dropped

    async def flush(self) -> None:
        """Wait until everything recorded so far is committed (retrying while the database is away)."""
        self._flushing += 1
        try:
            if self._writer is not None:
                await asyncio.shield(self._writer)
        finally:
            self._flushing -= 1

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, giving up after ``timeout`` seconds (the loss is logged)."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            if self._writer is not None:
                self._writer.cancel()
            log.error("audit log: %d events could not be written before shutdown", len(self._pending))

    async def _write(self) -> None:
        failures = 0
        try:
            while self._pending or self._outbox:
                if len(self._pending) < self._max_batch and not self._flushing:
                    await asyncio.sleep(self._linger)
                batch, dropped_before = self._pending[: self._max_batch], self._dropped
                self._outbox = False  # a wake() while this append runs sets it again
                try:
                    if await self._store.append(batch):
                        self._outbox = True
                except Exception as error:  # kept and retried: an audit event is not given up on a failure
                    self._outbox = True
                    delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                    failures += 1
                    log.warning(
                        "audit log: writing %d events failed (%s: %s); %d queued, %d dropped so far; retrying in %gs",
                        len(batch), type(error).__name__, error, len(self._pending), self._dropped, delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                # Events dropped meanwhile were the oldest queued, so the first of this very batch.
                del self._pending[: max(0, len(batch) - (self._dropped - dropped_before))]
        finally:
            self._writer = None

    async def list(self, where: AuditFilter, *, page_size: int, page_token: str) -> Page[ChainedEvent]:
        """A page of events, newest first (AIP-158)."""
        limit = page_limit(page_size)
        if where.start_time and where.end_time and where.start_time >= where.end_time:
            raise InvalidArgument(
                [FieldViolation("end_time", "must be later than start_time")], reason="INVALID_AUDIT_FILTER"
            )
        query_fingerprint = fingerprint("audit", where.actor, where.action, where.outcome, where.start_time,
                                        where.end_time)  # fmt: skip
        after = decode_values(page_token, query_fingerprint, 1)
        rows = await self._store.list(where, limit=limit + 1, after_id=after[0] if after else None)
        token = encode_values((rows[limit - 1].id,), query_fingerprint) if len(rows) > limit else ""
        return Page(rows[:limit], token)

    async def verify(self) -> ChainCheck:
        """Walk the whole chain; a chain of millions of rows is read in chunks, never held in memory."""
        return await self._store.verify()
