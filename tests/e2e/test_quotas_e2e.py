"""Quotas end to end: a real server refuses past a caller's rate and past 5 verifications of one invoice a day
with RESOURCE_EXHAUSTED, and the client SDK reads the RetryInfo, QuotaFailure and what is left."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fapiao.v1 import invoice_pb2
from fapiao_client import AsyncVerificationClient, FapiaoError, InvoiceClient
from fapiao_server.domain.access import Role
from tests.conftest import Register
from tests.support.access import principal_key
from tests.support.fleet import start_servers, stop_servers
from tests.support.invoices import issue_request, new_request_id, tax_id
from tests.support.server import ServerProcess, fapiao_executable

RATE = 30
DAILY = 5


@pytest.fixture(scope="module")
def limited(database_url: str, redis_url: str) -> Iterator[ServerProcess]:
    (server,) = start_servers(
        database_url,
        redis_url,
        count=1,
        settings={"FAPIAO_RATE_LIMIT_PER_SECOND": str(RATE), "FAPIAO_VERIFICATIONS_PER_INVOICE_PER_DAY": str(DAILY)},
    )
    yield server
    stop_servers([server])


def client_of(server: ServerProcess, database_url: str, caller: str) -> AsyncVerificationClient:
    """A client acting as a new VERIFIER named ``caller``-<random>, with the default rate."""
    key = principal_key(database_url, Role.VERIFIER, principal_id=f"{caller}-{uuid.uuid4().hex[:8]}")
    return AsyncVerificationClient(server.address, token=key)


async def list_once(client: AsyncVerificationClient) -> FapiaoError | None:
    try:
        async for _ in client.list_verification_records(page_size=1):
            pass
    except FapiaoError as error:
        return error
    return None


async def stream_refused(client: AsyncVerificationClient) -> bool:
    """Open batch streams until one is refused (each admitted one spends a token); whether one was."""
    for _ in range(3 * RATE):
        try:
            async for _ in client.batch_verify(["garbage"]):
                pass
        except FapiaoError as error:
            return error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    return False


async def test_past_its_rate_a_caller_is_told_when_to_retry(limited: ServerProcess, database_url: str) -> None:
    async with (
        client_of(limited, database_url, "rate") as client,
        client_of(limited, database_url, "bystander") as bystander,
    ):
        outcomes = await asyncio.gather(*(list_once(client) for _ in range(3 * RATE)))
        refused = [error for error in outcomes if error is not None]
        assert RATE <= len(outcomes) - len(refused) <= 2 * RATE  # the burst, plus what the seconds refilled
        error = refused[0]
        assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (error.reason, error.quota, error.limit, error.remaining) == ("RATE_LIMIT", "RATE_LIMIT", RATE, 0)
        assert error.retry_after is not None and 0 < error.retry_after <= 1 / RATE + 0.01
        assert error.quota_violations[0].subject.startswith("principal:rate-")
        assert await list_once(bystander) is None  # another caller has its own bucket
        assert await stream_refused(client)  # streams are refused the same way
        async with grpc.aio.insecure_channel(limited.address) as probe:  # balancers' probes are never limited
            answer = await health_pb2_grpc.HealthStub(probe).Check(health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        await asyncio.sleep(error.retry_after + 0.05)
        assert await list_once(client) is None


async def test_the_sixth_verification_of_an_invoice_is_refused_until_midnight(
    limited: ServerProcess, register: Register, database_url: str
) -> None:
    sample = register.sample()
    async with (
        client_of(limited, database_url, "daily") as client,
        client_of(limited, database_url, "other") as other,
    ):
        left = []
        for _ in range(DAILY):
            answer = await client.verify_invoice(**sample.request_fields())
            assert answer.HasField("verifications_left_today")
            left.append(answer.verifications_left_today)
        assert left == [4, 3, 2, 1, 0]
        with pytest.raises(FapiaoError) as refused:
            await client.verify_qr_code(sample.qr_payload)  # the same invoice, asked another way
        error = refused.value
        assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (error.quota, error.limit, error.remaining) == ("INVOICE_VERIFICATIONS_PER_DAY", DAILY, 0)
        assert error.retry_after is not None and 0 < error.retry_after <= 24 * 3600
        assert (await other.verify_invoice(**sample.request_fields())).verifications_left_today == DAILY - 1

        another = register.samples(limit=2)[1]
        results = [r async for r in client.batch_verify([sample.qr_payload, another.qr_payload])]
        assert results[0].WhichOneof("result") == "error"  # this item is refused; the stream goes on
        item_error = FapiaoError.from_status(results[0].error)
        assert (item_error.code, item_error.quota) == (grpc.StatusCode.RESOURCE_EXHAUSTED, error.quota)
        assert item_error.retry_after is not None and item_error.retry_after > 0
        assert results[1].verification.verifications_left_today == DAILY - 1


def test_the_cli_says_when_to_retry_and_exits_6(
    limited: ServerProcess, register: Register, new_key: Callable[..., str]
) -> None:
    sample = register.samples(limit=3)[2]
    env = {**os.environ, "FAPIAO_TARGET": limited.address, "FAPIAO_TOKEN": new_key()}

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        args = [str(fapiao_executable()), "verify", "--qr", sample.qr_payload, *extra]
        return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)

    answers = [verify() for _ in range(DAILY)]
    assert [a.returncode for a in answers] == [0] * DAILY
    assert "4 more verifications of this invoice allowed today" in answers[0].stdout
    assert "0 more verifications" in answers[-1].stdout
    refused = verify()
    assert refused.returncode == 6
    assert "RESOURCE_EXHAUSTED (INVOICE_VERIFICATIONS_PER_DAY)" in refused.stderr and "midnight" in refused.stderr
    as_json = json.loads(verify("--json").stdout)["error"]
    assert as_json["code"] == "RESOURCE_EXHAUSTED" and as_json["retry_after_seconds"] > 0


def test_a_plain_loop_past_the_rate_is_paced_by_the_sdk_and_nothing_fails(
    limited: ServerProcess, database_url: str
) -> None:
    """The README's promise: 50 issues back to back, faster than the rate, all succeed; the refusals past the burst
    are resent after their RetryInfo's delay, so the loop takes as long as the rate says and not much longer."""
    seller = tax_id()
    key = principal_key(database_url, Role.TAXPAYER, tax_ids=[seller], principal_id=f"loop-{uuid.uuid4().hex[:8]}")
    calls = 50
    with InvoiceClient(limited.address, token=key) as client:
        started = time.monotonic()
        issued = [
            client.issue_invoice(
                issue_request(invoice_pb2.INVOICE_TYPE_DIGITAL_GENERAL, seller, request_id=new_request_id())
            )
            for _ in range(calls)
        ]
        elapsed = time.monotonic() - started
        assert len({invoice.id for invoice in issued}) == calls
        # The burst is one second of the rate; the rest come at the rate.
        assert elapsed >= (calls - RATE) / RATE * 0.8, elapsed
    # The opt-out: the same loop, on eight threads so it outruns the rate even on a slow host, sees the refusals.
    with InvoiceClient(limited.address, token=key, retry_when_asked=False) as impatient:

        def issue_once(_: int) -> FapiaoError | None:
            try:
                impatient.issue_invoice(
                    issue_request(invoice_pb2.INVOICE_TYPE_DIGITAL_GENERAL, seller, request_id=new_request_id())
                )
            except FapiaoError as error:
                return error
            return None

        with ThreadPoolExecutor(8) as pool:
            refused = [error for error in pool.map(issue_once, range(3 * RATE)) if error is not None]
        assert refused and all(e.reason == "RATE_LIMIT" and e.retry_after for e in refused), refused[:3]
