"""The asyncio client for fapiao.v1.InvoiceService; the same surface as InvoiceClient."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from fapiao.v1 import invoice_pb2, lifecycle_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc

from .calls import AsyncCalls
from .drafts import issue_invoice_request
from .requests import (
    InvoiceLike,
    RedLetterItems,
    change_request,
    create_form_request,
    form_answer_request,
    get_invoice_request,
    invoice_selector,
    list_forms_request,
    list_invoices_request,
    watch_request,
)
from .watching import AsyncInvoiceWatch, OnReconnect


class AsyncInvoiceClient(AsyncCalls):
    """``async with AsyncInvoiceClient(target) as client: invoice = await client.issue_invoice(...)``

    The methods of :class:`fapiao_client.InvoiceClient`, with the same arguments, request ids and retries: each
    single call is a coroutine; ``list_*`` return async iterators and ``watch_invoices`` an
    :class:`~fapiao_client.watching.AsyncInvoiceWatch` (``async for event in client.watch_invoices(...)``).
    """

    _stub_class = pb_grpc.InvoiceServiceStub

    async def issue_invoice(
        self, invoice: pb.IssueInvoiceRequest | Mapping[str, Any], *, request_id: str = ""
    ) -> invoice_pb2.Invoice:
        request = issue_invoice_request(invoice, request_id)
        return (await self._call(self._stub.IssueInvoice, request)).invoice

    async def get_invoice(self, invoice: InvoiceLike, *, view: int | str = 0) -> invoice_pb2.Invoice:
        return (await self._call(self._stub.GetInvoice, get_invoice_request(invoice, view))).invoice

    def list_invoices(self, *, page_size: int = 0, **filters: Any) -> AsyncIterator[invoice_pb2.Invoice]:
        return self._pages(self._stub.ListInvoices, list_invoices_request(page_size=page_size, **filters), "invoices")

    async def void_invoice(
        self, invoice: InvoiceLike, *, reason: str = "", request_id: str = ""
    ) -> invoice_pb2.Invoice:
        request = change_request(pb.VoidInvoiceRequest, request_id, invoice=invoice_selector(invoice), reason=reason)
        return (await self._call(self._stub.VoidInvoice, request)).invoice

    async def certify_invoice(self, invoice: InvoiceLike, *, request_id: str = "") -> invoice_pb2.Invoice:
        request = change_request(pb.CertifyInvoiceRequest, request_id, invoice=invoice_selector(invoice))
        return (await self._call(self._stub.CertifyInvoice, request)).invoice

    async def report_tax_period(
        self, tax_id: str, year: int, month: int, *, request_id: str = ""
    ) -> pb.ReportTaxPeriodResponse:
        request = change_request(pb.ReportTaxPeriodRequest, request_id, tax_id=tax_id, year=year, month=month)
        return await self._call(self._stub.ReportTaxPeriod, request)

    async def get_allowed_actions(self, invoice: InvoiceLike) -> pb.GetAllowedActionsResponse:
        request = pb.GetAllowedActionsRequest(invoice=invoice_selector(invoice))
        return await self._call(self._stub.GetAllowedActions, request)

    def list_invoice_events(
        self, invoice: InvoiceLike, *, page_size: int = 0
    ) -> AsyncIterator[lifecycle_pb2.InvoiceEvent]:
        request = pb.ListInvoiceEventsRequest(invoice=invoice_selector(invoice), page_size=page_size)
        return self._pages(self._stub.ListInvoiceEvents, request, "events")

    def watch_invoices(
        self,
        invoice: InvoiceLike | None = None,
        *,
        tax_id: str = "",
        region_code: str = "",
        cursor: str = "",
        timeout: float | None = None,
        reconnect_attempts: int | None = 5,
        give_up_after: float | None = None,
        on_reconnect: OnReconnect | None = None,
    ) -> AsyncInvoiceWatch:
        request = watch_request(invoice, tax_id, cursor, region_code)
        return AsyncInvoiceWatch(self._stub, request, timeout=timeout, reconnect_attempts=reconnect_attempts,
                            give_up_after=give_up_after, on_reconnect=on_reconnect,
                                 metadata=self._metadata, wait_for_ready=self._wait)  # fmt: skip

    async def create_red_letter_form(
        self,
        invoice: InvoiceLike,
        *,
        reason: int | str,
        initiator: int | str,
        items: RedLetterItems = (),
        remarks: str = "",
        request_id: str = "",
    ) -> lifecycle_pb2.RedLetterForm:
        request = create_form_request(
            invoice, reason=reason, initiator=initiator, items=items, remarks=remarks, request_id=request_id
        )
        return (await self._call(self._stub.CreateRedLetterForm, request)).form

    async def confirm_red_letter_form(
        self, form_id: str, *, party: int | str, request_id: str = ""
    ) -> lifecycle_pb2.RedLetterForm:
        request = form_answer_request(pb.ConfirmRedLetterFormRequest, form_id, party, request_id)
        return (await self._call(self._stub.ConfirmRedLetterForm, request)).form

    async def reject_red_letter_form(
        self, form_id: str, *, party: int | str, reason: str = "", request_id: str = ""
    ) -> lifecycle_pb2.RedLetterForm:
        request = form_answer_request(pb.RejectRedLetterFormRequest, form_id, party, request_id, reason=reason)
        return (await self._call(self._stub.RejectRedLetterForm, request)).form

    async def withdraw_red_letter_form(
        self, form_id: str, *, party: int | str, reason: str = "", request_id: str = ""
    ) -> lifecycle_pb2.RedLetterForm:
        request = form_answer_request(pb.WithdrawRedLetterFormRequest, form_id, party, request_id, reason=reason)
        return (await self._call(self._stub.WithdrawRedLetterForm, request)).form

    async def get_red_letter_form(self, form_id: str) -> lifecycle_pb2.RedLetterForm:
        return (await self._call(self._stub.GetRedLetterForm, pb.GetRedLetterFormRequest(form_id=form_id))).form

    def list_red_letter_forms(
        self, *, page_size: int = 0, **filters: Any
    ) -> AsyncIterator[lifecycle_pb2.RedLetterForm]:
        return self._pages(self._stub.ListRedLetterForms, list_forms_request(page_size=page_size, **filters), "forms")

    async def issue_red_invoice(self, form_id: str, *, request_id: str = "") -> pb.IssueRedInvoiceResponse:
        request = change_request(pb.IssueRedInvoiceRequest, request_id, form_id=form_id)
        return await self._call(self._stub.IssueRedInvoice, request)
