"""Verification use cases: one invoice, a QR payload, a batch, and the caller's history."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from ..domain.calendar import business_date, next_business_day_start, utc_now
from ..domain.errors import DomainError, FailedPrecondition, FieldViolation, InvalidArgument, QuotaExceeded, Unavailable
from ..domain.invoice import Invoice, InvoiceKey
from ..domain.quotas import DailyVerificationLimit
from ..domain.signing import Signer, receipt
from ..domain.verification import (
    QrRequest,
    Verification,
    VerificationChannel,
    VerificationOutcome,
    VerificationPolicy,
    VerificationQuery,
    VerificationRecord,
    VerificationRequest,
    build_query,
    judge,
    query_from_qr,
)
from ..telemetry import spans
from .paging import decode_token, encode_token, fingerprint, page_limit
from .ports import AttemptCounter, InvoiceLookup, RecordAppender, RecordFilter, RecordReader

BatchItem = VerificationRequest | QrRequest
BatchResult = Verification | DomainError
MAX_BATCH_MESSAGE_ITEMS = 1000
# Chunks of one batch stream verified concurrently; results still leave in order.
BATCH_PIPELINE_DEPTH = 4


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[VerificationRecord]
    next_page_token: str


class VerificationService:
    def __init__(
        self,
        invoices: InvoiceLookup,
        records: RecordAppender,
        history: RecordReader,
        *,
        policy: VerificationPolicy | None = None,
        attempts: AttemptCounter | None = None,
        daily_limit: DailyVerificationLimit | None = None,
        signer: Signer | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._invoices = invoices
        self._records = records
        self._history = history
        self._policy = policy or VerificationPolicy()
        # Without a counter there is no daily limit (tests of other rules, benchmarks).
        self._attempts = attempts
        self._daily_limit = daily_limit or DailyVerificationLimit()
        self._signer = signer
        self._clock = clock
        self.daily_limit_refusals = 0  # attempts refused by the daily limit, ever (read by the metrics)

    def _now(self) -> tuple[datetime, date]:
        now = self._clock()
        return now, business_date(now)

    async def verify(
        self,
        request: VerificationRequest,
        *,
        caller: str,
        channel: VerificationChannel = VerificationChannel.SINGLE,
        with_receipt: bool = False,
    ) -> Verification:
        """Verify one invoice; the answer is returned once its record is stored. ``with_receipt`` adds the
        register's signed statement of the answer."""
        now, today = self._now()
        query = build_query(request, today=today, policy=self._policy)
        left = await self._spend_attempt(caller, query.key, now)
        verification = await self._answer(query, await self._invoices.get(query.key), caller, channel, now, left)
        return self._with_receipt(verification, request, None) if with_receipt else verification

    async def verify_qr(
        self, payload: str, *, caller: str, with_receipt: bool = False
    ) -> tuple[VerificationRequest, Verification]:
        """Verify the invoice a QR payload names; also returns the request the payload decoded to."""
        now, today = self._now()
        request, query = query_from_qr(payload, today=today, policy=self._policy)
        left = await self._spend_attempt(caller, query.key, now)
        invoice = await self._invoices.get(query.key)
        verification = await self._answer(query, invoice, caller, VerificationChannel.QR_CODE, now, left)
        return request, self._with_receipt(verification, request, payload) if with_receipt else verification

    async def _judge_attempts(
        self, caller: str, keys: Sequence[InvoiceKey], now: datetime
    ) -> list[int | QuotaExceeded | None]:
        """Count one attempt per key against the daily limit: each one's verifications left, or its refusal.
        Counted before the lookup, so every attempt counts whatever its outcome (as the national platform)."""
        if self._attempts is None or not self._daily_limit.enabled or not keys:
            return [None] * len(keys)
        limit = self._daily_limit
        counts = await self._attempts.count(
            [limit.counter(caller, key, now) for key in keys], lapse_at=next_business_day_start(now)
        )
        verdicts: list[int | QuotaExceeded | None] = [
            limit.judge(count, key, now) for count, key in zip(counts, keys, strict=True)
        ]
        self.daily_limit_refusals += sum(isinstance(verdict, QuotaExceeded) for verdict in verdicts)
        return verdicts

    async def _spend_attempt(self, caller: str, key: InvoiceKey, now: datetime) -> int | None:
        (verdict,) = await self._judge_attempts(caller, [key], now)
        if isinstance(verdict, QuotaExceeded):
            raise verdict
        return verdict

    def _with_receipt(
        self, verification: Verification, request: VerificationRequest, qr_payload: str | None
    ) -> Verification:
        if self._signer is None:
            raise FailedPrecondition("this register signs no receipts (no signing key)", reason="RECEIPTS_UNAVAILABLE")
        with spans.span("fapiao.sign", {"fapiao.sign.kind": "receipt", "fapiao.sign.key_id": self._signer.key_id}):
            signed = receipt(
                verification.record,
                request,
                verification.invoice,
                self._signer,
                receipt_id=str(uuid.uuid4()),
                qr_payload=qr_payload,
            )
        return replace(verification, receipt=signed)

    async def _answer(
        self,
        query: VerificationQuery,
        invoice: Invoice | None,
        caller: str,
        channel: VerificationChannel,
        now: datetime,
        left: int | None,
    ) -> Verification:
        (record_id,) = await self._records.reserve_ids(1)
        record = _record(record_id, query, invoice, caller, channel, now)
        await self._records.append([record])
        return Verification(record, invoice if record.outcome is VerificationOutcome.MATCH else None, left)

    async def verify_batch(self, items: Sequence[BatchItem], *, caller: str) -> list[BatchResult]:
        """Verify many invoices with one lookup and one record write. Each item gets its own answer or error;
        a store outage becomes an UNAVAILABLE error on each affected item, not a failed call."""
        now, today = self._now()
        queries: list[VerificationQuery | DomainError] = [self._query(item, today) for item in items]
        left: list[int | None] = [None] * len(queries)
        asked = [(i, q.key) for i, q in enumerate(queries) if isinstance(q, VerificationQuery)]
        verdicts = await self._judge_attempts(caller, [key for _, key in asked], now)
        for (i, _), verdict in zip(asked, verdicts, strict=True):
            if isinstance(verdict, QuotaExceeded):
                queries[i] = verdict  # refused items get their own error; the rest of the batch goes on
            else:
                left[i] = verdict
        valid = [q for q in queries if isinstance(q, VerificationQuery)]
        try:
            invoices = await self._invoices.get_many([q.key for q in valid]) if valid else {}
            ids = await self._records.reserve_ids(len(valid)) if valid else []
            records = [
                _record(i, q, invoices.get(q.key), caller, VerificationChannel.BATCH, now)
                for i, q in zip(ids, valid, strict=True)
            ]
            if records:
                await self._records.append(records)
        except Unavailable as error:  # bad items keep their own errors; the rest could not be answered now
            return [q if isinstance(q, DomainError) else error for q in queries]
        results: list[BatchResult] = []
        stored = iter(records)
        for query, verifications_left in zip(queries, left, strict=True):
            if isinstance(query, DomainError):
                results.append(query)
                continue
            record = next(stored)
            matched = record.outcome is VerificationOutcome.MATCH
            results.append(Verification(record, invoices.get(query.key) if matched else None, verifications_left))
        return results

    def _query(self, item: BatchItem, today: date) -> VerificationQuery | DomainError:
        try:
            if isinstance(item, QrRequest):
                return query_from_qr(item.payload, today=today, policy=self._policy)[1]
            return build_query(item, today=today, policy=self._policy)
        except InvalidArgument as error:
            return error

    async def verify_stream(
        self, chunks: AsyncIterator[Sequence[BatchItem]], *, caller: str
    ) -> AsyncIterator[list[BatchResult]]:
        """Verify a stream of chunks, a few concurrently, yielding each chunk's results in request order."""
        pending: deque[asyncio.Task[list[BatchResult]]] = deque()
        try:
            async for chunk in chunks:
                if len(chunk) > MAX_BATCH_MESSAGE_ITEMS:
                    raise InvalidArgument(
                        [FieldViolation("items", f"{len(chunk)} items; at most {MAX_BATCH_MESSAGE_ITEMS} per message")],
                        reason="BATCH_MESSAGE_TOO_LARGE",
                    )
                pending.append(asyncio.create_task(self.verify_batch(chunk, caller=caller)))
                while pending and (len(pending) >= BATCH_PIPELINE_DEPTH or pending[0].done()):
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:
            for task in pending:
                task.cancel()

    async def list_records(self, caller: str, where: RecordFilter, *, page_size: int, page_token: str) -> RecordPage:
        """One page of the caller's history, newest first (AIP-158)."""
        limit = page_limit(page_size)
        _check_filter(where)
        owner = fingerprint(caller, where)
        after = decode_token(page_token, owner)
        records = await self._history.list(caller, where, limit=limit + 1, after=after)
        if len(records) <= limit:
            return RecordPage(records, "")
        last = records[limit - 1]
        return RecordPage(records[:limit], encode_token((last.verify_time, last.id), owner))


def _check_filter(where: RecordFilter) -> None:
    problems = []
    for name in ("invoice_code", "invoice_number"):
        value = getattr(where, name)
        if value is not None and not (value.isascii() and value.isdigit() and len(value) <= 20):
            problems.append(FieldViolation(name, "must be digits only (at most 20)"))
    if where.start_time and where.end_time and where.start_time >= where.end_time:
        problems.append(FieldViolation("end_time", "must be later than start_time"))
    if problems:
        raise InvalidArgument(problems, reason="INVALID_RECORD_FILTER")


def _record(
    record_id: int,
    query: VerificationQuery,
    invoice: Invoice | None,
    caller: str,
    channel: VerificationChannel,
    now: datetime,
) -> VerificationRecord:
    mismatched: tuple[str, ...]
    if invoice is None:
        outcome, mismatched = VerificationOutcome.NOT_FOUND, ()
    else:
        outcome, mismatched = judge(query, invoice)
    return VerificationRecord(
        id=record_id,
        verify_time=now,
        caller=caller,
        channel=channel,
        key=query.key,
        # On MISMATCH the asked type is kept, never the register's: the history must not reveal true values.
        invoice_type=invoice.invoice_type if outcome is VerificationOutcome.MATCH and invoice else query.invoice_type,
        issue_date=query.issue_date,
        outcome=outcome,
        mismatched_fields=mismatched,
        invoice_state=invoice.state if outcome is VerificationOutcome.MATCH and invoice is not None else None,
        invoice_id=invoice.id if invoice is not None else None,
    )
