"""Quota rules and the per-worker token bucket, driven by explicit instants: no Redis, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from fapiao_client import FapiaoError
from fapiao_server.domain.calendar import BUSINESS_TZ, next_business_day_start
from fapiao_server.domain.errors import QuotaExceeded
from fapiao_server.domain.invoice import InvoiceKey
from fapiao_server.domain.quotas import INVOICE_VERIFICATIONS_PER_DAY, RATE_LIMIT, DailyVerificationLimit, rate_limited
from fapiao_server.quotas.bucket import TokenBucket
from fapiao_server.transport.errors import PUSHBACK, grpc_status_for, status_for

KEY = InvoiceKey("011001605111", "80100798")


def test_a_bucket_starts_full_and_refuses_once_empty() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=0.0)
    assert bucket.take(4, 0.0) == (4, 0.0)
    assert bucket.take(100, 0.0) == (6, 0.0)  # up to what is there
    taken, wait = bucket.take(1, 0.0)
    assert taken == 0
    assert wait == pytest.approx(0.1)


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=0.0)
    bucket.take(10, 0.0)
    assert bucket.take(100, 0.35) == (3, 0.0)
    taken, wait = bucket.take(1, 0.35)
    assert taken == 0
    assert wait == pytest.approx(0.05)
    assert bucket.take(100, 60.0) == (10, 0.0)  # an idle minute refills only to the burst


def test_a_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=5.0)
    bucket.take(10, 5.0)
    assert bucket.take(1, 4.0)[0] == 0
    assert bucket.take(1, 5.15)[0] == 1


def test_a_bucket_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0.0)


def test_the_next_business_day_starts_at_shanghai_midnight() -> None:
    # 15:59:59 UTC is 23:59:59 in Shanghai: one second to go. 16:00 UTC is already the next Shanghai day.
    assert next_business_day_start(datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC)) == datetime(
        2026, 11, 28, tzinfo=BUSINESS_TZ
    )
    assert next_business_day_start(datetime(2026, 11, 27, 16, 0, tzinfo=UTC)) == datetime(
        2026, 11, 29, tzinfo=BUSINESS_TZ
    )


def test_the_daily_limit_counts_down_then_refuses_until_midnight() -> None:
    limit = DailyVerificationLimit(5)
    now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert [limit.judge(n, KEY, now) for n in range(1, 6)] == [4, 3, 2, 1, 0]
    refusal = limit.judge(6, KEY, now)
    assert isinstance(refusal, QuotaExceeded)
    assert (refusal.quota, refusal.limit, refusal.remaining) == (INVOICE_VERIFICATIONS_PER_DAY, 5, 0)
    assert refusal.retry_after == 3600


def test_each_day_caller_and_invoice_has_its_own_counter() -> None:
    limit = DailyVerificationLimit(5)
    now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    names = {
        limit.counter("alice", KEY, now),
        limit.counter("bob", KEY, now),
        limit.counter("alice", InvoiceKey("", "23442000000014209621"), now),
        limit.counter("alice", KEY, now + timedelta(hours=1)),  # past Shanghai midnight
    }
    assert len(names) == 4


def test_a_quota_refusal_reaches_the_client_with_retry_info_and_quota_failure() -> None:
    error = FapiaoError.from_status(status_for(rate_limited("alice", 20, 0.05)))
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == RATE_LIMIT
    assert error.retry_after == pytest.approx(0.05)
    assert (error.limit, error.remaining, error.quota) == (20, 0, RATE_LIMIT)
    assert [v.subject for v in error.quota_violations] == ["principal:alice"]


def test_a_refusal_never_says_retry_at_once() -> None:
    error = FapiaoError.from_status(status_for(rate_limited("alice", 20, 0.0)))
    assert error.retry_after is not None and error.retry_after > 0


def test_an_absurd_rate_still_makes_a_status() -> None:
    error = FapiaoError.from_status(status_for(rate_limited("robot", 1e30, 0.5)))
    assert error.limit == 1e30 and error.quota == RATE_LIMIT


def test_gRPC_clients_are_told_when_to_retry_a_refusal_and_not_to_when_it_lifts_only_tomorrow() -> None:
    soon = QuotaExceeded("over the rate", quota="RATE_LIMIT", limit=20, retry_after=0.05)
    tomorrow = QuotaExceeded("verified too often", quota="INVOICE_VERIFICATIONS_PER_DAY", limit=5, retry_after=5 * 3600)
    assert dict(grpc_status_for(soon).trailing_metadata)[PUSHBACK] == "50"
    assert dict(grpc_status_for(tomorrow).trailing_metadata)[PUSHBACK] == "-1"
