"""fapiao.v1.ReportService over gRPC: convert, call the reporting use case, convert back."""

from __future__ import annotations

import grpc

from fapiao.v1 import report_service_pb2 as pb
from fapiao.v1 import report_service_pb2_grpc as pb_grpc

from ..services.reporting import ReportingService
from . import report_converters as convert
from .caller import principal_of
from .errors import unary_errors


class ReportServicer(pb_grpc.ReportServiceServicer):
    def __init__(self, service: ReportingService) -> None:
        self._service = service

    @unary_errors
    async def SummarizeInvoices(
        self, request: pb.SummarizeInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SummarizeInvoicesResponse:
        groups, total = await self._service.summarize(convert.summary_query(request), principal_of(context))
        return pb.SummarizeInvoicesResponse(
            groups=[convert.totals_message(group) for group in groups], total=convert.totals_message(total)
        )
