"""The asyncio client for fapiao.v1.VerificationService; the same surface as VerificationClient."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc

from .channel import DEFAULT_TARGET, caller_metadata, channel_options
from .errors import FapiaoError
from .requests import verify_request
from .sync_client import DEFAULT_CHUNK, chunked_requests, list_request


class AsyncVerificationClient:
    """``async with AsyncVerificationClient(target) as client: await client.verify_invoice(...)``"""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        caller: str | None = None,
        timeout: float | None = 10.0,
        wait_for_ready: bool = True,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            options = channel_options()
            channel = (
                grpc.aio.secure_channel(target, credentials, options)
                if credentials
                else grpc.aio.insecure_channel(target, options)
            )
        self._channel = channel
        self._stub = pb_grpc.VerificationServiceStub(channel)
        self._metadata = caller_metadata(caller)
        self._timeout = timeout
        self._wait = wait_for_ready

    async def verify_invoice(
        self, request: pb.VerifyInvoiceRequest | None = None, **fields: Any
    ) -> pb.VerifyInvoiceResponse:
        message = request if request is not None else verify_request(**fields)
        try:
            return await self._stub.VerifyInvoice(
                message, timeout=self._timeout, metadata=self._metadata, wait_for_ready=self._wait
            )
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

    async def verify_qr_code(self, payload: str) -> pb.VerifyQrCodeResponse:
        try:
            return await self._stub.VerifyQrCode(
                pb.VerifyQrCodeRequest(payload=payload),
                timeout=self._timeout,
                metadata=self._metadata,
                wait_for_ready=self._wait,
            )
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

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
            metadata=self._metadata,
            wait_for_ready=self._wait,
        )
        try:
            async for response in call:
                for result in response.results:
                    yield result
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

    async def list_verification_records(
        self, *, page_size: int = 0, **filters: Any
    ) -> AsyncIterator[pb.VerificationRecord]:
        token = ""
        while True:
            try:
                page = await self._stub.ListVerificationRecords(
                    list_request(page_size, token, filters),
                    timeout=self._timeout,
                    metadata=self._metadata,
                    wait_for_ready=self._wait,
                )
            except grpc.RpcError as error:
                raise FapiaoError.from_rpc_error(error) from None
            for record in page.records:
                yield record
            token = page.next_page_token
            if not token:
                return

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncVerificationClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
