"""The blocking client for fapiao.v1.InvoiceService: issue, void, certify, red-letter reversal and history."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fapiao.v1 import invoice_pb2, lifecycle_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc

from .calls import BlockingCalls
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
from .watching import InvoiceWatch, OnReconnect


class InvoiceClient(BlockingCalls):
    """Issue invoices and take them through their lifecycle.

    >>> with InvoiceClient("127.0.0.1:50051", token=api_key) as client:
    ...     invoice = client.issue_invoice({"invoice_type": "04", "seller": ..., "buyer": ..., "lines": [...]})
    ...     client.void_invoice(invoice, reason="wrong buyer")

    An invoice is named by the Invoice an answer returned, ``"CODE:NUMBER"``, a 20-digit 数电 number, or an
    InvoiceSelector (see :func:`fapiao_client.invoice_selector`). Enums may be given by number or by name
    (``initiator="seller"``, ``reason="goods-returned"``).

    Every change carries a request id (AIP-155). Leave ``request_id`` empty and a fresh UUID4 is used; the client
    resends a change that failed with UNAVAILABLE or ABORTED with that same id, and the register answers a repeat
    with the first result, so a change is applied at most once. To retry safely yourself (after a timeout, or in
    another process), pass your own UUID and use it again for the retry. Refusals raise :class:`FapiaoError`:
    FAILED_PRECONDITION with the rule's ``reason`` (e.g. VOID_PERIOD_ENDED), NOT_FOUND, INVALID_ARGUMENT.
    """

    _stub_class = pb_grpc.InvoiceServiceStub

    def issue_invoice(
        self, invoice: pb.IssueInvoiceRequest | Mapping[str, Any], *, request_id: str = ""
    ) -> invoice_pb2.Invoice:
        """开具: issue an invoice given as a request or as data (the format of :mod:`fapiao_client.drafts`).
        Returns it as stored, with its code, number, tax and totals. Safe to retry with the same request id."""
        request = issue_invoice_request(invoice, request_id)
        return self._call(self._stub.IssueInvoice, request).invoice

    def get_invoice(self, invoice: InvoiceLike, *, view: int | str = 0) -> invoice_pb2.Invoice:
        """One invoice (FULL view unless ``view`` is "basic")."""
        return self._call(self._stub.GetInvoice, get_invoice_request(invoice, view)).invoice

    def list_invoices(self, *, page_size: int = 0, **filters: Any) -> Iterator[invoice_pb2.Invoice]:
        """Invoices of a seller or buyer, newest first, fetched page by page as you iterate. Filters:
        seller_tax_id, buyer_tax_id, region_code (one is required), state, invoice_type, start_date, end_date, view."""
        return self._pages(self._stub.ListInvoices, list_invoices_request(page_size=page_size, **filters), "invoices")

    def void_invoice(self, invoice: InvoiceLike, *, reason: str = "", request_id: str = "") -> invoice_pb2.Invoice:
        """作废 a paper invoice in its month of issue; returns it VOIDED. Safe to retry with the same request id."""
        request = change_request(pb.VoidInvoiceRequest, request_id, invoice=invoice_selector(invoice), reason=reason)
        return self._call(self._stub.VoidInvoice, request).invoice

    def certify_invoice(self, invoice: InvoiceLike, *, request_id: str = "") -> invoice_pb2.Invoice:
        """认证/勾选: record the buyer's certification. Safe to retry with the same request id."""
        request = change_request(pb.CertifyInvoiceRequest, request_id, invoice=invoice_selector(invoice))
        return self._call(self._stub.CertifyInvoice, request).invoice

    def report_tax_period(
        self, tax_id: str, year: int, month: int, *, request_id: str = ""
    ) -> pb.ReportTaxPeriodResponse:
        """申报: record that the seller reported a month; its invoices can no longer be voided. Reporting again
        is harmless: the first report's time stands."""
        request = change_request(pb.ReportTaxPeriodRequest, request_id, tax_id=tax_id, year=year, month=month)
        return self._call(self._stub.ReportTaxPeriod, request)

    def get_allowed_actions(self, invoice: InvoiceLike) -> pb.GetAllowedActionsResponse:
        """Which changes the invoice allows now; each refused one with the reason its call would fail with."""
        request = pb.GetAllowedActionsRequest(invoice=invoice_selector(invoice))
        return self._call(self._stub.GetAllowedActions, request)

    def list_invoice_events(self, invoice: InvoiceLike, *, page_size: int = 0) -> Iterator[lifecycle_pb2.InvoiceEvent]:
        """The invoice's history, oldest first, fetched page by page as you iterate."""
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
    ) -> InvoiceWatch:
        """Follow one invoice, every invoice a tax id sells or buys, or (a tax officer) every invoice of a region,
        from ``cursor`` (empty: from now on).
        Reconnects and resumes when the stream breaks; see :class:`fapiao_client.watching.InvoiceWatch`."""
        request = watch_request(invoice, tax_id, cursor, region_code)
        return InvoiceWatch(self._stub, request, timeout=timeout, reconnect_attempts=reconnect_attempts,
                            give_up_after=give_up_after, on_reconnect=on_reconnect,
                            metadata=self._metadata, wait_for_ready=self._wait)  # fmt: skip

    def create_red_letter_form(
        self,
        invoice: InvoiceLike,
        *,
        reason: int | str,
        initiator: int | str,
        items: RedLetterItems = (),
        remarks: str = "",
        request_id: str = "",
    ) -> lifecycle_pb2.RedLetterForm:
        """Enter a 红字确认单 against ``invoice`` as the seller or the buyer: everything left of it (no
        ``items``), or lines given as numbers, ``(line_number, amount_fen)`` pairs or RedLetterItems. Safe to
        retry with the same request id."""
        request = create_form_request(
            invoice, reason=reason, initiator=initiator, items=items, remarks=remarks, request_id=request_id
        )
        return self._call(self._stub.CreateRedLetterForm, request).form

    def confirm_red_letter_form(
        self, form_id: str, *, party: int | str, request_id: str = ""
    ) -> lifecycle_pb2.RedLetterForm:
        """The party the form awaits confirms it (02/03 -> 04). Safe to retry with the same request id."""
        request = form_answer_request(pb.ConfirmRedLetterFormRequest, form_id, party, request_id)
        return self._call(self._stub.ConfirmRedLetterForm, request).form

    def reject_red_letter_form(
        self, form_id: str, *, party: int | str, reason: str = "", request_id: str = ""
    ) -> lifecycle_pb2.RedLetterForm:
        """The party the form awaits refuses it (02 -> 05, 03 -> 06). Safe to retry with the same request id."""
        request = form_answer_request(pb.RejectRedLetterFormRequest, form_id, party, request_id, reason=reason)
        return self._call(self._stub.RejectRedLetterForm, request).form

    def withdraw_red_letter_form(
        self, form_id: str, *, party: int | str, reason: str = "", request_id: str = ""
    ) -> lifecycle_pb2.RedLetterForm:
        """The initiator withdraws a form whose red invoice is not issued (-> 08, or 09 once confirmed). Safe to
        retry with the same request id."""
        request = form_answer_request(pb.WithdrawRedLetterFormRequest, form_id, party, request_id, reason=reason)
        return self._call(self._stub.WithdrawRedLetterForm, request).form

    def get_red_letter_form(self, form_id: str) -> lifecycle_pb2.RedLetterForm:
        return self._call(self._stub.GetRedLetterForm, pb.GetRedLetterFormRequest(form_id=form_id)).form

    def list_red_letter_forms(self, *, page_size: int = 0, **filters: Any) -> Iterator[lifecycle_pb2.RedLetterForm]:
        """Forms, newest first, fetched page by page as you iterate. Filters: seller_tax_id, buyer_tax_id, invoice
        (one of the three is required), state."""
        return self._pages(self._stub.ListRedLetterForms, list_forms_request(page_size=page_size, **filters), "forms")

    def issue_red_invoice(self, form_id: str, *, request_id: str = "") -> pb.IssueRedInvoiceResponse:
        """Issue the red invoice of a form in 01 or 04; the answer carries it and the original as it now stands.
        Safe to retry with the same request id."""
        request = change_request(pb.IssueRedInvoiceRequest, request_id, form_id=form_id)
        return self._call(self._stub.IssueRedInvoice, request)
