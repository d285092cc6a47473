"""The verification use cases (services/verification.py) against in-memory ports: what each answer records, the
daily limit counted before the lookup, receipts, batches that answer item by item (and survive a store outage
item by item), the stream's message limit, and the caller's history paged newest first. No PostgreSQL, no Redis:
the adapters behind these ports have their own integration tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fapiao_server.domain.errors import FailedPrecondition, InvalidArgument, QuotaExceeded, Unavailable
from fapiao_server.domain.invoice import InvoiceState
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.verification import (
    QrRequest,
    Verification,
    VerificationChannel,
    VerificationOutcome,
    VerificationRequest,
)
from fapiao_server.keys.signing import SigningKey
from fapiao_server.services.ports import RecordFilter
from fapiao_server.services.verification import BatchItem, BatchResult, VerificationService
from tests.support.fakes import InMemoryAttempts, InMemoryInvoices, InMemoryRecords
from tests.unit.test_verification_rules import CODES, invoice, legacy

# 11:00 in Beijing on the rules' "today" (2026-11-27), 13 hours before the Shanghai midnight the daily limit lapses at.
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
TO_MIDNIGHT = 13 * 3600
T = TypeVar("T")
KIND = InvoiceType.VAT_GENERAL
HELD = invoice(KIND)
ABSENT = legacy(KIND, invoice_number="03630025")
QR = "01,04,044032510004,03630024,94339.62,20250618,85342965681116380258,BE2D,"  # HELD's printed payload


class Register:
    """A VerificationService over fakes, with the fakes at hand."""

    def __init__(self, *, daily_limit: bool = True, signer: SigningKey | None = None) -> None:
        self.invoices = InMemoryInvoices([HELD])
        self.records = InMemoryRecords()
        self.attempts = InMemoryAttempts()
        self.clock = NOW
        self.service = VerificationService(
            self.invoices,
            self.records,
            self.records,
            attempts=self.attempts if daily_limit else None,
            signer=signer,
            clock=lambda: self.clock,
        )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_a_match_is_recorded_before_it_answers_with_the_invoice_and_what_is_left_today() -> None:
    register = Register()
    answer = run(register.service.verify(legacy(KIND), caller="verifier-1"))
    assert answer.outcome is VerificationOutcome.MATCH and answer.invoice == HELD
    assert answer.verifications_left == 4
    (record,) = register.records.stored
    assert record == answer.record
    assert (record.caller, record.channel, record.key, record.verify_time) == (
        "verifier-1", VerificationChannel.SINGLE, HELD.key, NOW
    )  # fmt: skip
    assert (record.invoice_type, record.invoice_state, record.invoice_id) == (KIND, InvoiceState.ISSUED, HELD.id)


def test_a_mismatch_names_the_field_and_reveals_nothing_of_the_invoice() -> None:
    register = Register()
    answer = run(register.service.verify(legacy(KIND, proof=("check_code", "111111")), caller="verifier-1"))
    assert answer.outcome is VerificationOutcome.MISMATCH and answer.invoice is None
    assert answer.record.mismatched_fields == ("check_code",)
    assert answer.record.invoice_state is None  # the state is the invoice's, told on MATCH only
    assert answer.record.invoice_id == HELD.id  # kept for the register's own audit, never answered


def test_the_asked_type_is_recorded_on_a_mismatch_never_the_register_s() -> None:
    held = invoice(InvoiceType.DIGITAL_GENERAL)
    register = Register()
    register.invoices.add(held)
    asked = VerificationRequest("", held.invoice_number, (2025, 6, 18), ("total_fen", held.total_fen + 1), 31)
    answer = run(register.service.verify(asked, caller="verifier-1"))
    assert answer.outcome is VerificationOutcome.MISMATCH
    assert answer.record.invoice_type is InvoiceType.DIGITAL_SPECIAL  # what was asked, not the invoice's 32


def test_not_found_is_recorded_too() -> None:
    register = Register()
    answer = run(register.service.verify(ABSENT, caller="verifier-1"))
    assert answer.outcome is VerificationOutcome.NOT_FOUND and answer.invoice is None
    assert [record.outcome for record in register.records.stored] == [VerificationOutcome.NOT_FOUND]
    assert register.records.stored[0].invoice_id is None


def test_a_bad_request_is_refused_before_anything_is_counted_looked_up_or_recorded() -> None:
    register = Register()
    with pytest.raises(InvalidArgument) as refused:
        run(register.service.verify(legacy(KIND, invoice_number="123"), caller="verifier-1"))
    assert refused.value.reason == "INVALID_VERIFICATION_QUERY"
    assert [violation.field for violation in refused.value.violations] == ["invoice_number"]
    assert (register.attempts.counts, register.invoices.lookups, register.records.stored) == ({}, 0, [])


def test_the_sixth_attempt_of_a_day_is_refused_until_shanghai_midnight_whatever_the_outcomes() -> None:
    register = Register()
    left = [
        run(register.service.verify(request, caller="verifier-1")).verifications_left
        for request in (legacy(KIND), legacy(KIND, proof=("check_code", "111111")), legacy(KIND), legacy(KIND))
    ]
    left.append(run(register.service.verify_qr(QR,
                                               caller="verifier-1"))[1].verifications_left)  # fmt: skip
    assert left == [4, 3, 2, 1, 0]
    lookups, stored = register.invoices.lookups, len(register.records.stored)
    with pytest.raises(QuotaExceeded) as refused:
        run(register.service.verify(legacy(KIND), caller="verifier-1"))
    error = refused.value
    assert (error.quota, error.limit, error.remaining, error.retry_after) == (
        "INVOICE_VERIFICATIONS_PER_DAY", 5, 0, TO_MIDNIGHT
    )  # fmt: skip
    assert (register.invoices.lookups, len(register.records.stored)) == (lookups, stored)  # refused first
    assert register.service.daily_limit_refusals == 1
    # Another caller counts on its own; the next Shanghai day starts again.
    assert run(register.service.verify(legacy(KIND), caller="verifier-2")).verifications_left == 4
    register.clock = NOW + timedelta(seconds=TO_MIDNIGHT)
    assert run(register.service.verify(legacy(KIND), caller="verifier-1")).verifications_left == 4


def test_not_found_attempts_count_against_the_day_as_the_national_platform_counts_them() -> None:
    register = Register()
    for _ in range(5):
        run(register.service.verify(ABSENT, caller="verifier-1"))
    with pytest.raises(QuotaExceeded):
        run(register.service.verify(ABSENT, caller="verifier-1"))


def test_without_a_counter_there_is_no_daily_limit() -> None:
    register = Register(daily_limit=False)
    answers = [run(register.service.verify(legacy(KIND), caller="verifier-1")) for _ in range(7)]
    assert [answer.verifications_left for answer in answers] == [None] * 7


def test_a_qr_payload_is_verified_as_the_request_it_decodes_to() -> None:
    register = Register()
    request, answer = run(register.service.verify_qr(QR, caller="verifier-1"))
    assert (request.invoice_code, request.invoice_number, request.issue_date) == (CODES[KIND], "03630024",
                                                                                  (2025, 6, 18))  # fmt: skip
    assert answer.outcome is VerificationOutcome.MATCH
    assert answer.record.channel is VerificationChannel.QR_CODE


def test_a_receipt_is_refused_without_a_signing_key_and_signed_with_one() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        run(Register().service.verify(legacy(KIND), caller="verifier-1", with_receipt=True))
    assert refused.value.reason == "RECEIPTS_UNAVAILABLE"

    private = Ed25519PrivateKey.generate()
    register = Register(signer=SigningKey(private))
    answer = run(register.service.verify(legacy(KIND), caller="verifier-1", with_receipt=True))
    assert answer.receipt is not None
    private.public_key().verify(answer.receipt.signature, answer.receipt.body)  # raises if it does not check out
    statement = json.loads(answer.receipt.body)
    assert (statement["outcome"], statement["caller"], statement["verification_id"]) == (
        "MATCH", "verifier-1", str(answer.record.id)
    )  # fmt: skip
    assert statement["invoice"]["invoice_number"] == HELD.invoice_number


def test_a_batch_answers_item_by_item_in_order_with_one_lookup() -> None:
    register = Register()
    items: list[BatchItem] = [legacy(KIND), QrRequest("not a payload"), ABSENT]
    results = run(register.service.verify_batch(items, caller="verifier-1"))
    assert isinstance(results[0], Verification) and results[0].outcome is VerificationOutcome.MATCH
    assert isinstance(results[1], InvalidArgument) and results[1].reason == "INVALID_VERIFICATION_QUERY"
    assert isinstance(results[2], Verification) and results[2].outcome is VerificationOutcome.NOT_FOUND
    assert register.invoices.lookups == 1
    assert [record.channel for record in register.records.stored] == [VerificationChannel.BATCH] * 2


def test_a_batch_refuses_only_the_items_past_the_daily_limit() -> None:
    register = Register()
    results = run(register.service.verify_batch([legacy(KIND)] * 6 + [ABSENT], caller="verifier-1"))
    assert [result.verifications_left for result in results[:5] if isinstance(result, Verification)] == [4, 3, 2, 1, 0]
    assert isinstance(results[5], QuotaExceeded)
    assert isinstance(results[6], Verification) and results[6].verifications_left == 4
    assert len(register.records.stored) == 6


def test_a_store_outage_makes_each_valid_item_unavailable_and_leaves_the_bad_ones_their_own_errors() -> None:
    register = Register()
    register.records.fail_with = Unavailable("the register's database is not answering")
    results = run(register.service.verify_batch([legacy(KIND), QrRequest("x"), ABSENT], caller="verifier-1"))
    assert [type(result) for result in results] == [Unavailable, InvalidArgument, Unavailable]
    assert register.records.stored == []


async def _chunks(*chunks: Sequence[BatchItem]) -> AsyncIterator[Sequence[BatchItem]]:
    for chunk in chunks:
        yield chunk


async def _collect(service: VerificationService, *chunks: Sequence[BatchItem]) -> list[list[BatchResult]]:
    return [results async for results in service.verify_stream(_chunks(*chunks), caller="verifier-1")]


def test_a_stream_answers_its_messages_in_order_and_refuses_an_oversized_one() -> None:
    register = Register(daily_limit=False)
    answered = run(_collect(register.service, *([[legacy(KIND)], [ABSENT]] * 5)))
    outcomes = [result.outcome for results in answered for result in results if isinstance(result, Verification)]
    assert outcomes == [VerificationOutcome.MATCH, VerificationOutcome.NOT_FOUND] * 5
    with pytest.raises(InvalidArgument) as refused:
        run(_collect(register.service, [legacy(KIND)], [ABSENT] * 1001))
    assert refused.value.reason == "BATCH_MESSAGE_TOO_LARGE"
    assert [violation.field for violation in refused.value.violations] == ["items"]


def test_the_history_is_the_caller_s_own_newest_first_in_pages_bound_to_their_filter() -> None:
    register = Register(daily_limit=False)
    for minutes in range(3):
        register.clock = NOW + timedelta(minutes=minutes)
        run(register.service.verify(legacy(KIND), caller="verifier-1"))
    run(register.service.verify(legacy(KIND), caller="verifier-2"))
    everything = RecordFilter()
    first = run(register.service.list_records("verifier-1", everything, page_size=2, page_token=""))
    assert [record.verify_time for record in first.records] == [NOW + timedelta(minutes=2), NOW + timedelta(minutes=1)]
    assert first.next_page_token
    last = run(register.service.list_records("verifier-1", everything, page_size=2, page_token=first.next_page_token))
    assert [record.verify_time for record in last.records] == [NOW] and last.next_page_token == ""
    matches = RecordFilter(outcome=VerificationOutcome.MATCH)
    with pytest.raises(InvalidArgument) as reused:  # a token belongs to the listing that issued it
        run(register.service.list_records("verifier-1", matches, page_size=2, page_token=first.next_page_token))
    assert reused.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(InvalidArgument) as stolen:  # and to its caller
        run(register.service.list_records("verifier-2", everything, page_size=2, page_token=first.next_page_token))
    assert stolen.value.reason == "INVALID_PAGE_TOKEN"


def test_a_history_filter_that_cannot_mean_anything_is_refused_field_by_field() -> None:
    wrong = RecordFilter(invoice_code="12ab", invoice_number="x" * 21, start_time=NOW, end_time=NOW)
    with pytest.raises(InvalidArgument) as refused:
        run(Register().service.list_records("verifier-1", wrong, page_size=10, page_token=""))
    assert refused.value.reason == "INVALID_RECORD_FILTER"
    assert [violation.field for violation in refused.value.violations] == ["invoice_code", "invoice_number", "end_time"]
