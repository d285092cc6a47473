"""A worker past its capacity, on a real server: calls beyond its places are refused at once with
RESOURCE_EXHAUSTED (reason SERVER_OVERLOADED, a RetryInfo and gRPC's retry pushback), never CANCELLED; health
stays SERVING; the SDK waits the delay it is given and gets its answers."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc
from fapiao_client import AsyncVerificationClient, FapiaoError, verify_request
from tests.conftest import Register
from tests.support.server import NO_QUOTAS, ServerProcess

pytestmark = pytest.mark.slow
BURST = 60


@pytest.fixture(scope="module")
def narrow(database_url: str, redis_url: str) -> Iterator[ServerProcess]:
    """A worker with two places and a queue of two that waits 20 ms: a burst of calls overflows it."""
    process = ServerProcess(
        "--listen", "127.0.0.1:0", "--workers", "1",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_REDIS_URL": redis_url,
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:{uuid.uuid4().hex[:12]}:",
            "FAPIAO_LOG_LEVEL": "WARNING",
            "FAPIAO_MAX_CALLS_IN_FLIGHT": "2",
            "FAPIAO_MAX_CALLS_QUEUED": "2",
            "FAPIAO_MAX_QUEUE_WAIT_MS": "20",
            **NO_QUOTAS,
        },
    ).start()  # fmt: skip
    yield process
    process.stop()


def _verify(register: Register) -> pb.VerifyInvoiceRequest:
    return verify_request(**register.sample("state = 1 AND invoice_type = 4").request_fields())


async def test_a_burst_past_the_places_is_refused_at_once_retryably(
    narrow: ServerProcess, register: Register, verifier_key: str
) -> None:
    request = _verify(register)
    metadata = (("authorization", f"Bearer {verifier_key}"),)
    async with grpc.aio.insecure_channel(narrow.address) as channel:  # no retries: every refusal is seen
        stub = pb_grpc.VerificationServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        async def one() -> grpc.aio.AioRpcError | pb.VerifyInvoiceResponse:
            try:
                return await stub.VerifyInvoice(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as error:
                return error

        calls = [asyncio.create_task(one()) for _ in range(BURST)]
        checked = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        answers = await asyncio.gather(*calls)
    assert checked.status == health_pb2.HealthCheckResponse.SERVING, "a busy worker is not an unhealthy one"
    codes = Counter(a.code() if isinstance(a, grpc.aio.AioRpcError) else grpc.StatusCode.OK for a in answers)
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    refusal = next(a for a in answers if isinstance(a, grpc.aio.AioRpcError))
    trailers = dict(refusal.trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert any(d.Unpack(info) for d in status.details) and info.reason == "SERVER_OVERLOADED"
    assert any(d.Unpack(retry) for d in status.details) and 0 < retry.retry_delay.ToMilliseconds() <= 250
    assert 0 < int(trailers["grpc-retry-pushback-ms"]) <= 250


async def test_the_sdk_waits_the_delay_it_is_given_and_gets_every_answer(
    narrow: ServerProcess, register: Register, verifier_key: str
) -> None:
    request = _verify(register)
    async with AsyncVerificationClient(narrow.address, token=verifier_key) as client:
        answers = await asyncio.gather(*(client.verify_invoice(request) for _ in range(20)))
    assert all(a.outcome == pb.VERIFICATION_OUTCOME_MATCH for a in answers)

    async with AsyncVerificationClient(narrow.address, token=verifier_key, retry_when_asked=False) as pacing:
        results = await asyncio.gather(*(pacing.verify_invoice(request) for _ in range(BURST)),
                                       return_exceptions=True)  # fmt: skip
    refused = [r for r in results if isinstance(r, FapiaoError)]
    assert refused and all(r.code == grpc.StatusCode.RESOURCE_EXHAUSTED and r.retry_delay for r in refused)
