"""The blocking client for fapiao.v1.AuditService: read the audit log and check its hash chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from fapiao.v1 import audit_service_pb2 as pb
from fapiao.v1 import audit_service_pb2_grpc as pb_grpc

from .calls import BlockingCalls
from .requests import enum_value

# Seconds a chain check may take: it reads every row of the log.
VERIFY_TIMEOUT = 3600.0


def audit_outcome(value: int | str) -> pb.AuditOutcome:
    """An AuditOutcome by number or name ("denied", "AUDIT_OUTCOME_DENIED"); 0 or "" means any."""
    return enum_value(pb.AuditOutcome, value) if value else pb.AUDIT_OUTCOME_UNSPECIFIED


class AuditClient(BlockingCalls):
    """Read the audit log (newest first) and verify its hash chain.

    >>> with AuditClient("127.0.0.1:50051", token=auditor_api_key) as client:
    ...     for event in client.list_audit_events(action="/fapiao.v1.InvoiceService/VoidInvoice"):
    ...         print(event.actor, event.subject)
    ...     assert client.verify_audit_chain().intact
    """

    _stub_class = pb_grpc.AuditServiceStub

    def list_audit_events(
        self,
        *,
        actor: str = "",
        action: str = "",
        outcome: int | str = 0,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 0,
    ) -> Iterator[pb.AuditEvent]:
        """Matching events, newest first, fetched page by page as you iterate. Times must be timezone-aware."""
        request = pb.ListAuditEventsRequest(
            actor=actor,
            action=action,
            outcome=audit_outcome(outcome),
            page_size=page_size,
        )
        for field, value in (("start_time", start_time), ("end_time", end_time)):
            if value is not None:
                if value.tzinfo is None:
                    raise ValueError(f"{field} must be timezone-aware")
                getattr(request, field).FromDatetime(value)
        return self._pages(self._stub.ListAuditEvents, request, "events")

    def verify_audit_chain(self, *, timeout: float = VERIFY_TIMEOUT) -> pb.VerifyAuditChainResponse:
        """Walk the whole chain; ``intact`` or the first broken event's id. Keep ``head_hash`` elsewhere: a later
        check can then show the chain was not rewritten from the start. The register checks some 10,000 events a
        second, so the deadline is ``timeout`` (an hour) rather than the client's."""
        return self._call(self._stub.VerifyAuditChain, pb.VerifyAuditChainRequest(), timeout=timeout)
