"""fapiao.v1.InvoiceService over gRPC: convert, call the lifecycle use case, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from cachetools import LRUCache

from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc

from ..domain.events import InvoiceEvent
from ..services.lifecycle import LifecycleService
from ..services.watching import encode_cursor
from ..telemetry import spans
from . import lifecycle_converters as convert
from .caller import principal_of
from .converters import BASIC, FULL, invoice_message
from .errors import stream_errors, unary_errors


def _view(requested: int, default: int) -> int:
    return requested if requested in (BASIC, FULL) else default


class InvoiceServicer(pb_grpc.InvoiceServiceServicer):
    def __init__(self, service: LifecycleService) -> None:
        self._service = service
        self._events: LRUCache[int, bytes] = LRUCache(50_000)

    @unary_errors
    async def IssueInvoice(
        self, request: pb.IssueInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueInvoiceResponse:
        invoice = await self._service.issue(
            convert.issue_request(request), actor=principal_of(context), request_id=request.request_id
        )
        if spans.active():
            spans.annotate_call("fapiao.invoice.type", invoice.invoice_type.code)
        return pb.IssueInvoiceResponse(invoice=invoice_message(invoice))

    @unary_errors
    async def GetInvoice(
        self, request: pb.GetInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInvoiceResponse:
        invoice = await self._service.get(convert.selector(request.invoice), principal_of(context).scope)
        return pb.GetInvoiceResponse(invoice=invoice_message(invoice, _view(request.view, FULL)))

    @unary_errors
    async def ListInvoices(
        self, request: pb.ListInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInvoicesResponse:
        page = await self._service.list_invoices(
            convert.invoice_filter(request),
            principal_of(context).scope,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        view = _view(request.view, BASIC)
        return pb.ListInvoicesResponse(
            invoices=[invoice_message(i, view) for i in page.items], next_page_token=page.next_page_token
        )

    @unary_errors
    async def VoidInvoice(
        self, request: pb.VoidInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.VoidInvoiceResponse:
        invoice = await self._service.void(
            convert.selector(request.invoice),
            reason=request.reason,
            actor=principal_of(context),
            request_id=request.request_id,
        )
        return pb.VoidInvoiceResponse(invoice=invoice_message(invoice))

    @unary_errors
    async def CertifyInvoice(
        self, request: pb.CertifyInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CertifyInvoiceResponse:
        invoice = await self._service.certify(
            convert.selector(request.invoice), actor=principal_of(context), request_id=request.request_id
        )
        return pb.CertifyInvoiceResponse(invoice=invoice_message(invoice))

    @unary_errors
    async def ReportTaxPeriod(
        self, request: pb.ReportTaxPeriodRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportTaxPeriodResponse:
        reported = await self._service.report_period(
            request.tax_id, request.year, request.month, actor=principal_of(context), request_id=request.request_id
        )
        response = pb.ReportTaxPeriodResponse()
        response.report_time.FromDatetime(reported)
        return response

    @unary_errors
    async def GetAllowedActions(
        self, request: pb.GetAllowedActionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAllowedActionsResponse:
        invoice, answers = await self._service.allowed_actions(
            convert.selector(request.invoice), principal_of(context).scope
        )
        return pb.GetAllowedActionsResponse(
            state=invoice.state.value,  # type: ignore[arg-type]
            actions=[convert.action_message(answer) for answer in answers],
        )

    @unary_errors
    async def ListInvoiceEvents(
        self, request: pb.ListInvoiceEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInvoiceEventsResponse:
        page = await self._service.list_events(
            convert.selector(request.invoice),
            principal_of(context).scope,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListInvoiceEventsResponse(
            events=[convert.event_message(e) for e in page.items], next_page_token=page.next_page_token
        )

    @stream_errors
    async def WatchInvoices(
        self, request: pb.WatchInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchInvoicesResponse]:
        where = await self._service.watch_target(convert.watch_target(request), principal_of(context))
        async for events, position in self._service.watch(where, request.cursor):
            response = pb.WatchInvoicesResponse(cursor=encode_cursor(position))
            for event in events:
                response.events.add().MergeFromString(self._event_bytes(event))
            yield response

    def _event_bytes(self, event: InvoiceEvent) -> bytes:
        """An event's message, built once however many watchers it goes to (events never change)."""
        data = self._events.get(event.id)
        if data is None:
            data = convert.event_message(event).SerializeToString()
            self._events[event.id] = data
        return data

    @unary_errors
    async def CreateRedLetterForm(
        self, request: pb.CreateRedLetterFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateRedLetterFormResponse:
        form = await self._service.create_form(
            convert.selector(request.invoice),
            reason=request.reason,
            initiator=request.initiator,
            items=convert.reversal_items(request),
            remarks=request.remarks,
            actor=principal_of(context),
            request_id=request.request_id,
        )
        return pb.CreateRedLetterFormResponse(form=convert.form_message(form))

    @unary_errors
    async def ConfirmRedLetterForm(
        self, request: pb.ConfirmRedLetterFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmRedLetterFormResponse:
        form = await self._service.confirm_form(
            convert.register_id("form_id", request.form_id, "INVALID_FORM_ID"),
            request.party,
            actor=principal_of(context),
            request_id=request.request_id,
        )
        return pb.ConfirmRedLetterFormResponse(form=convert.form_message(form))

    @unary_errors
    async def RejectRedLetterForm(
        self, request: pb.RejectRedLetterFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectRedLetterFormResponse:
        form = await self._service.reject_form(
            convert.register_id("form_id", request.form_id, "INVALID_FORM_ID"),
            request.party,
            request.reason,
            actor=principal_of(context),
            request_id=request.request_id,
        )
        return pb.RejectRedLetterFormResponse(form=convert.form_message(form))

    @unary_errors
    async def WithdrawRedLetterForm(
        self, request: pb.WithdrawRedLetterFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.WithdrawRedLetterFormResponse:
        form = await self._service.withdraw_form(
            convert.register_id("form_id", request.form_id, "INVALID_FORM_ID"),
            request.party,
            request.reason,
            actor=principal_of(context),
            request_id=request.request_id,
        )
        return pb.WithdrawRedLetterFormResponse(form=convert.form_message(form))

    @unary_errors
    async def GetRedLetterForm(
        self, request: pb.GetRedLetterFormRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetRedLetterFormResponse:
        form_id = convert.register_id("form_id", request.form_id, "INVALID_FORM_ID")
        form = await self._service.get_form(form_id, principal_of(context).scope)
        return pb.GetRedLetterFormResponse(form=convert.form_message(form))

    @unary_errors
    async def ListRedLetterForms(
        self, request: pb.ListRedLetterFormsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRedLetterFormsResponse:
        invoice = request.invoice
        invoice_id = None
        if invoice.id or invoice.invoice_number or invoice.invoice_code:
            invoice_id = (await self._service.get(convert.selector(invoice), principal_of(context).scope)).id
        page = await self._service.list_forms(
            convert.form_filter(request, invoice_id),
            principal_of(context).scope,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListRedLetterFormsResponse(
            forms=[convert.form_message(f) for f in page.items], next_page_token=page.next_page_token
        )

    @unary_errors
    async def IssueRedInvoice(
        self, request: pb.IssueRedInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueRedInvoiceResponse:
        red, original = await self._service.issue_red(
            convert.register_id("form_id", request.form_id, "INVALID_FORM_ID"),
            actor=principal_of(context),
            request_id=request.request_id,
        )
        return pb.IssueRedInvoiceResponse(invoice=invoice_message(red), original_invoice=invoice_message(original))
