"""The asyncio client for fapiao.v1.VerificationService; the same surface as VerificationClient."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc

from .calls import AsyncCalls
from .errors import FapiaoError
from .requests import verify_request
from .sync_client import DEFAULT_CHUNK, chunked_requests, list_request


class AsyncVerificationClient(AsyncCalls):
    """``async with AsyncVerificationClient(target) as client: await client.verify_invoice(...)``"""

    _stub_class = pb_grpc.VerificationServiceStub

    async def verify_invoice(
        self, request: pb.VerifyInvoiceRequest | None = None, **fields: Any
    ) -> pb.VerifyInvoiceResponse:
        message = request if request is not None else verify_request(**fields)
        return await self._call(self._stub.VerifyInvoice, message)

    async def verify_qr_code(self, payload: str, *, with_receipt: bool = False) -> pb.VerifyQrCodeResponse:
        return await self._call(
            self._stub.VerifyQrCode, pb.VerifyQrCodeRequest(payload=payload, with_receipt=with_receipt)
        )

    async def batch_verify(
        self,
        items: Iterable[pb.VerifyInvoiceRequest | str],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        view: int = 0,
        timeout: float | None = None,
    ) -> AsyncIterator[pb.BatchVerifyResult]:
        call = self._stub.BatchVerifyInvoices(
            iter(chunked_requests(items, chunk_size, view)),
            timeout=timeout,
            metadata=self._metadata(),
            wait_for_ready=self._wait,
        )
        try:
            async for response in call:
                for result in response.results:
                    yield result
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

    def list_verification_records(self, *, page_size: int = 0, **filters: Any) -> AsyncIterator[pb.VerificationRecord]:
        return self._pages(self._stub.ListVerificationRecords, list_request(page_size, "", filters), "records")
