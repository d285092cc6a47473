"""The audit trail on a real grpc.aio server: a refusal is recorded with the outcome its status code means, and
the caller gets the answer or the refusal exactly as the servicer gave it. The servicer here refuses at will
(PERMISSION_DENIED, UNAUTHENTICATED); there is no access gate, so the caller is recorded as anonymous."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao_server.domain.audit import AuditEvent, AuditOutcome
from fapiao_server.transport.admission import AdmitCalls
from fapiao_server.transport.audit_trail import ANONYMOUS, AuditTrail
from fapiao_server.transport.overload import CallLimiter
from fapiao_server.transport.policy import AUDITED
from tests.support import fleet

REFUSALS = {"deny": grpc.StatusCode.PERMISSION_DENIED, "who": grpc.StatusCode.UNAUTHENTICATED}


class Refusing(pb_grpc.InvoiceServiceServicer):
    async def VoidInvoice(self, request: pb.VoidInvoiceRequest, context: grpc.aio.ServicerContext) -> object:
        code = REFUSALS.get(request.reason)
        if code is not None:
            await context.abort(code, "refused")
        return pb.VoidInvoiceResponse(invoice=invoice_pb2.Invoice(id=request.invoice.id))

    async def GetInvoice(self, request: pb.GetInvoiceRequest, context: grpc.aio.ServicerContext) -> object:
        return pb.GetInvoiceResponse()


class Recorded:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Recorded]]:
    log = Recorded()
    server = grpc.aio.server(
        interceptors=[
            AdmitCalls(None, CallLimiter(max_in_flight=8, max_queued=0, max_wait=0)),
            AuditTrail(log, AUDITED),
        ]
    )  # type: ignore[arg-type]
    pb_grpc.add_InvoiceServiceServicer_to_server(Refusing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", log
    finally:
        await server.stop(0)


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [("", AuditOutcome.OK), ("deny", AuditOutcome.DENIED), ("who", AuditOutcome.UNAUTHENTICATED)],
)
async def test_each_ending_is_recorded_with_its_outcome(
    served: tuple[str, Recorded], reason: str, outcome: AuditOutcome
) -> None:
    address, log = served
    async with fleet.channel(address) as channel:
        stub = pb_grpc.InvoiceServiceStub(channel)
        request = pb.VoidInvoiceRequest(invoice=pb.InvoiceSelector(id="42"), reason=reason, request_id="r-1")
        call = stub.VoidInvoice(request, timeout=10)
        if reason:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() is REFUSALS[reason] and refused.value.details() == "refused"
        else:
            assert (await call).invoice.id == "42"
        await stub.GetInvoice(pb.GetInvoiceRequest(), timeout=10)  # a read: not recorded
    [event] = log.events
    assert (event.actor, event.action, event.outcome, event.subject) == (
        ANONYMOUS,
        "/fapiao.v1.InvoiceService/VoidInvoice",
        outcome,
        "invoices/42",
    )
    assert event.details["request_id"] == "r-1"
    assert event.details.get("code", "OK") == (REFUSALS[reason].name if reason else "OK")
