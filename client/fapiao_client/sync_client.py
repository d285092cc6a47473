"""The blocking client for fapiao.v1.VerificationService."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import grpc

from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc

from .calls import BlockingCalls
from .errors import FapiaoError
from .requests import batch_item, verify_request

DEFAULT_CHUNK = 500


def chunked_requests(
    items: Iterable[pb.VerifyInvoiceRequest | str], chunk_size: int, view: int = 0
) -> Iterator[pb.BatchVerifyInvoicesRequest]:
    """Batch stream messages of up to ``chunk_size`` items (the register takes at most 1,000 per message)."""
    if not 1 <= chunk_size <= 1000:
        raise ValueError("chunk_size must be between 1 and 1000")
    message = pb.BatchVerifyInvoicesRequest(view=view)  # type: ignore[arg-type]
    for item in items:
        message.items.append(batch_item(item))
        if len(message.items) == chunk_size:
            yield message
            message = pb.BatchVerifyInvoicesRequest(view=view)  # type: ignore[arg-type]
    if message.items:
        yield message


def list_request(page_size: int, page_token: str, filters: dict[str, Any]) -> pb.ListVerificationRecordsRequest:
    request = pb.ListVerificationRecordsRequest(page_size=page_size, page_token=page_token)
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            getattr(request, name).FromDatetime(value)
        else:
            setattr(request, name, value)
    return request


class VerificationClient(BlockingCalls):
    """Verify invoices against the register.

    >>> with VerificationClient("127.0.0.1:50051", token=api_key) as client:
    ...     answer = client.verify_invoice(invoice_code="011001605111", invoice_number="80100798",
    ...                                    issue_date="2026-10-18", check_code="380258")

    Failures raise :class:`FapiaoError` with the status code, the stable reason and the bad fields. With
    ``wait_for_ready`` (the default) a call waits, up to its ``timeout``, for a connection instead of failing
    at once, which rides out a restarting worker or a rolling deploy; pass False to fail fast.
    """

    _stub_class = pb_grpc.VerificationServiceStub

    def verify_invoice(self, request: pb.VerifyInvoiceRequest | None = None, **fields: Any) -> pb.VerifyInvoiceResponse:
        """Verify one invoice: pass a request, or the keyword fields of :func:`fapiao_client.verify_request`."""
        message = request if request is not None else verify_request(**fields)
        return self._call(self._stub.VerifyInvoice, message)

    def verify_qr_code(self, payload: str, *, with_receipt: bool = False) -> pb.VerifyQrCodeResponse:
        """Verify the invoice whose QR payload was scanned; ``with_receipt`` asks for a signed receipt."""
        return self._call(self._stub.VerifyQrCode, pb.VerifyQrCodeRequest(payload=payload, with_receipt=with_receipt))

    def batch_verify(
        self,
        items: Iterable[pb.VerifyInvoiceRequest | str],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        view: int = 0,
        timeout: float | None = None,
    ) -> Iterator[pb.BatchVerifyResult]:
        """Verify many invoices (requests or QR payloads) in one stream; results arrive in order, each with
        ``verification`` or ``error`` set (see :meth:`FapiaoError.from_status`). Matched invoices come in the
        BASIC view (no lines or contact details) unless ``view`` is ``invoice_pb2.INVOICE_VIEW_FULL``."""
        try:
            responses = self._stub.BatchVerifyInvoices(
                chunked_requests(items, chunk_size, view),
                timeout=timeout,
                metadata=self._metadata(),
                wait_for_ready=self._wait,
            )
            for response in responses:
                yield from response.results
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

    def list_verification_records(self, *, page_size: int = 0, **filters: Any) -> Iterator[pb.VerificationRecord]:
        """The caller's history, newest first, fetched page by page as you iterate. Filters: invoice_code,
        invoice_number, outcome, start_time, end_time (aware datetimes)."""
        return self._pages(self._stub.ListVerificationRecords, list_request(page_size, "", filters), "records")
