"""fapiao.v1.VerificationService over gRPC: convert, call the use case, convert back."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence

import grpc

from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc

from ..domain.errors import DomainError
from ..domain.verification import QrRequest, Verification, VerificationRequest
from ..services.verification import VerificationService
from ..telemetry import spans
from . import converters
from .caller import caller_of
from .errors import status_for, stream_errors, unary_errors


def _traced(verification: Verification) -> Verification:
    """What the call's span says of a verification: its outcome and the invoice type asked about."""
    if not spans.active():
        return verification
    record = verification.record
    spans.annotate_call("fapiao.verification.outcome", record.outcome.name)
    if record.invoice_type is not None:
        spans.annotate_call("fapiao.invoice.type", record.invoice_type.code)
    return verification


class VerificationServicer(pb_grpc.VerificationServiceServicer):
    def __init__(self, service: VerificationService) -> None:
        self._service = service
        self._messages = converters.InvoiceMessages()

    @unary_errors
    async def VerifyInvoice(
        self, request: pb.VerifyInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyInvoiceResponse:
        verification = await self._service.verify(
            converters.verification_request(request), caller=caller_of(context), with_receipt=request.with_receipt
        )
        return self._messages.verify_response(_traced(verification))

    @unary_errors
    async def VerifyQrCode(
        self, request: pb.VerifyQrCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyQrCodeResponse:
        decoded, verification = await self._service.verify_qr(
            request.payload, caller=caller_of(context), with_receipt=request.with_receipt
        )
        return pb.VerifyQrCodeResponse(
            decoded_request=converters.verification_request_message(decoded),
            verification=self._messages.verify_response(_traced(verification)),
        )

    @stream_errors
    async def BatchVerifyInvoices(
        self, request_iterator: AsyncIterator[pb.BatchVerifyInvoicesRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.BatchVerifyInvoicesResponse]:
        caller = caller_of(context)
        views: deque[int] = deque()  # each chunk's view, consumed in the same order as its results

        async def chunks() -> AsyncIterator[Sequence[VerificationRequest | QrRequest]]:
            async for message in request_iterator:
                views.append(converters.FULL if message.view == converters.FULL else converters.BASIC)
                yield [converters.batch_item(item) for item in message.items]

        index = 0
        async for results in self._service.verify_stream(chunks(), caller=caller):
            view = views.popleft()
            response = pb.BatchVerifyInvoicesResponse()
            for result in results:
                target = response.results.add()
                target.index = index
                if isinstance(result, DomainError):
                    target.error.CopyFrom(status_for(result))
                else:
                    target.verification.CopyFrom(self._messages.verify_response(result, view))
                index += 1
            yield response

    @unary_errors
    async def ListVerificationRecords(
        self, request: pb.ListVerificationRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVerificationRecordsResponse:
        page = await self._service.list_records(
            caller_of(context),
            converters.record_filter(request),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListVerificationRecordsResponse(
            records=[converters.record_message(r) for r in page.records], next_page_token=page.next_page_token
        )
