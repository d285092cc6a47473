"""Issuing in group commits: IssueInvoice calls arriving together are issued in one transaction (request ids
claimed, numbers reserved, invoices, lines and events written), so the number counters - one hot row per code -
are locked once per batch rather than once per invoice. Numbers are reserved inside the transaction that uses
them, so a failed batch gives them back and the sequence has no gaps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from ..coalescing import BatchObserver, Coalescer
from ..domain.audit import invoice_subject
from ..domain.calendar import utc_now
from ..domain.errors import Aborted, DomainError, FailedPrecondition
from ..domain.events import EventType, NewEvent
from ..domain.invoice import Invoice, InvoiceState
from ..domain.signing import Signer
from ..keys.encryption import Keyring
from ..services.ports import PendingIssue, Replayed, UsedRequest
from ..telemetry import spans
from .audit import record_with_change
from .database import storage_errors
from .lifecycle import append_events, change_errors, claim_requests, finish_requests, insert_invoices
from .queries import query

IssueResult = Invoice | Replayed | DomainError

# Under load, a group commit waits this long after the previous one before it takes the calls that arrived, so
# that more of them share it. Measured with h2load on 2 cores (docs/performance.md, run 6), alternating with the
# linger off: median p99 330 against 396 ms at 1,000/s and 88 against 126 ms at 300/s, at the same CPU per
# invoice. Light load never waits (coalescing.Coalescer).
GROUP_COMMIT_LINGER_SECONDS = 0.003


class PostgresIssuer:
    """Issues invoices signed by ``signer`` (unsigned without one)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        keyring: Keyring,
        *,
        signer: Signer | None = None,
        max_batch: int = 256,
        linger: float = GROUP_COMMIT_LINGER_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._pool = pool
        self._keyring = keyring
        self._signer = signer
        self._clock = clock
        self._batches: Coalescer[PendingIssue, IssueResult] = Coalescer(
            self._issue_batch, max_batch=max_batch, linger=linger, traced_as="fapiao.issue", on_batch=on_batch
        )

    async def issue(self, item: PendingIssue) -> Invoice | Replayed:
        (result,) = await self._batches.submit([item])
        if isinstance(result, DomainError):
            raise result
        return result

    async def _issue_batch(self, items: list[PendingIssue]) -> list[IssueResult]:
        try:
            return await self._attempt(items)
        except (Aborted, FailedPrecondition):
            if len(items) == 1:
                raise
        # One item's trouble must not fail its neighbours: issue them one by one, each with its own answer.
        results: list[IssueResult] = []
        for item in items:
            try:
                results.extend(await self._attempt([item]))
            except (Aborted, FailedPrecondition) as error:
                results.append(error)
        return results

    async def _attempt(self, items: Sequence[PendingIssue]) -> list[IssueResult]:
        now = self._clock()
        results: list[IssueResult | None] = [None] * len(items)
        # A request id repeated within the batch is issued once; the repeats replay the first.
        first_of: dict[tuple[str, str], int] = {}
        repeats: dict[int, int] = {}
        for index, item in enumerate(items):
            if item.claim is not None:
                key = (item.claim.caller, item.claim.request_id)
                if key in first_of:
                    repeats[index] = first_of[key]
                else:
                    first_of[key] = index
        # Pipeline mode: the batch costs three round trips (request ids and invoice ids; the numbers; the inserts
        # and COMMIT) instead of one per statement, so the counters it locks are held for less. Each round trip is a
        # span of the batch (fapiao.issue.claim, fapiao.reserve_numbers, fapiao.issue.write), which is how a trace
        # tells waiting for PostgreSQL (or for another batch's counters) from this worker's own work.
        with storage_errors(), change_errors(), contextlib.ExitStack() as writing:
            async with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
                with spans.span("fapiao.issue.claim"):
                    taking_ids = await conn.execute(query("next_invoice_ids"), {"count": len(items)})
                    claims = [items[i].claim for i in first_of.values()]
                    used = await claim_requests(conn, [c for c in claims if c is not None])
                    ids = [row[0] for row in await taking_ids.fetchall()]
                fresh = []
                for index, item in enumerate(items):
                    if index in repeats:
                        continue
                    earlier = None if item.claim is None else used.get((item.claim.caller, item.claim.request_id))
                    if earlier is not None:
                        results[index] = Replayed(earlier)
                    else:
                        fresh.append(index)
                invoices = await insert_invoices(
                    conn, [items[i].draft for i in fresh], now, self._keyring, self._signer, ids=ids[: len(fresh)]
                )
                for index, invoice in zip(fresh, invoices, strict=True):
                    results[index] = invoice
                await append_events(
                    conn,
                    [
                        NewEvent(
                            event_type=EventType.ISSUED,
                            invoice_id=invoice.id,
                            seller_tax_id=invoice.seller.tax_id,
                            buyer_tax_id=invoice.buyer.tax_id,
                            region_code=invoice.region_code,
                            actor=items[index].actor,
                            state_after=InvoiceState.ISSUED,
                        )
                        for index, invoice in zip(fresh, invoices, strict=True)
                    ],
                )
                await record_with_change(
                    conn,
                    [
                        replace(audit, subject=invoice_subject(invoice.id), time=now)
                        for index, invoice in zip(fresh, invoices, strict=True)
                        if (audit := items[index].audit) is not None
                    ],
                )
                await finish_requests(
                    conn,
                    [
                        (claim, invoice.id)
                        for index, invoice in zip(fresh, invoices, strict=True)
                        if (claim := items[index].claim) is not None
                    ],
                )
                # From here to the end of the ExitStack: the queued inserts sent, run and committed (WAL flush).
                writing.enter_context(spans.span("fapiao.issue.write"))
        for index, first in repeats.items():
            original, claim = results[first], items[first].claim
            assert claim is not None
            if isinstance(original, Invoice):
                results[index] = Replayed(UsedRequest(claim.fingerprint, original.id))
            else:
                results[index] = original
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]
