"""Clients for fapiao.v1.ReportService: counts and exact sums of invoices (数据统计)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from fapiao.v1 import report_service_pb2 as pb
from fapiao.v1 import report_service_pb2_grpc as pb_grpc

from .calls import AsyncCalls, BlockingCalls
from .requests import summarize_request


class ReportClient(BlockingCalls):
    """Totals of the invoices of one seller, one buyer or one region over a range of issue dates.

    >>> with ReportClient("127.0.0.1:50051", token=api_key) as client:
    ...     report = client.summarize_invoices(seller_tax_id="91110108MA01ABCD0B", start_date="2026-01-01",
    ...                                        end_date="2026-12-31", group_by=("month", "type"))
    ...     for group in report.groups:
    ...         print(group.month, group.invoice_type, group.invoice_count, fen_to_yuan(group.total_fen))

    A taxpayer reports on its own tax ids; a tax officer on its regions, or on any tax id (counting only the
    invoices of its regions). Others are refused with PERMISSION_DENIED, a bad request with INVALID_ARGUMENT
    naming the fields (both as :class:`~fapiao_client.FapiaoError`).
    """

    _stub_class = pb_grpc.ReportServiceStub

    def summarize_invoices(
        self,
        *,
        start_date: date | str,
        end_date: date | str,
        seller_tax_id: str = "",
        buyer_tax_id: str = "",
        region_code: str = "",
        state: int | str = 0,
        invoice_type: int | str = 0,
        group_by: Iterable[int | str] | str = (),
    ) -> pb.SummarizeInvoicesResponse:
        """Totals by ``group_by`` ("type", "state", "month", "region", in the order given; none: the grand total
        only) of the invoices of exactly one of ``seller_tax_id``, ``buyer_tax_id`` and ``region_code``, issued
        from ``start_date`` to ``end_date`` (Asia/Shanghai dates, both included, at most 366 days), optionally
        only those in ``state`` or of ``invoice_type``. Amounts are integer fen; red-letter invoices count with
        their negative amounts."""
        request = summarize_request(
            start_date=start_date,
            end_date=end_date,
            seller_tax_id=seller_tax_id,
            buyer_tax_id=buyer_tax_id,
            region_code=region_code,
            state=state,
            invoice_type=invoice_type,
            group_by=group_by,
        )
        return self._call(self._stub.SummarizeInvoices, request)


class AsyncReportClient(AsyncCalls):
    """The asyncio form of :class:`ReportClient`: ``await client.summarize_invoices(...)``, same arguments."""

    _stub_class = pb_grpc.ReportServiceStub

    async def summarize_invoices(
        self,
        *,
        start_date: date | str,
        end_date: date | str,
        seller_tax_id: str = "",
        buyer_tax_id: str = "",
        region_code: str = "",
        state: int | str = 0,
        invoice_type: int | str = 0,
        group_by: Iterable[int | str] | str = (),
    ) -> pb.SummarizeInvoicesResponse:
        request = summarize_request(
            start_date=start_date,
            end_date=end_date,
            seller_tax_id=seller_tax_id,
            buyer_tax_id=buyer_tax_id,
            region_code=region_code,
            state=state,
            invoice_type=invoice_type,
            group_by=group_by,
        )
        return await self._call(self._stub.SummarizeInvoices, request)
