"""fapiao.v1.AuditService over gRPC: convert, call the audit log, convert back."""

from __future__ import annotations

import grpc

from fapiao.v1 import audit_service_pb2 as pb
from fapiao.v1 import audit_service_pb2_grpc as pb_grpc

from ..services.audit import AuditLog
from . import audit_converters as convert
from .errors import unary_errors


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, log: AuditLog) -> None:
        self._log = log

    @unary_errors
    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditEventsResponse:
        page = await self._log.list(
            convert.audit_filter(request), page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListAuditEventsResponse(
            events=[convert.event_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    @unary_errors
    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyAuditChainResponse:
        return convert.check_message(await self._log.verify())
