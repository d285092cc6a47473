"""What every client shares: one channel, the caller's credentials, deadlines, and failures raised as
FapiaoError."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

import grpc

from fapiao.v1 import auth_service_pb2, auth_service_pb2_grpc

from .channel import DEFAULT_TARGET, channel_options, with_default_port
from .credentials import TokenSource
from .errors import FapiaoError
from .tracing import asyncio_interceptors, trace_blocking


def _renewer(target: str, credentials: grpc.ChannelCredentials | None) -> Any:
    """How a TokenSource renews a session: RefreshToken on a short-lived blocking channel of its own (this runs
    once every few minutes, from sync and asyncio clients alike)."""

    def renew(refresh_token: str) -> auth_service_pb2.SessionTokens:
        channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
        with channel:
            stub = auth_service_pb2_grpc.AuthServiceStub(channel)
            answer = stub.RefreshToken(auth_service_pb2.RefreshTokenRequest(refresh_token=refresh_token), timeout=10)
        return answer.tokens

    return renew


class _Calls:
    """One channel per client, opened by ``_open`` (grpc, or grpc.aio); ``_stub_class`` the generated stub the
    client calls through.

    ``target`` is HOST:PORT (a HOST alone means the port `fapiao serve` listens on, 50051; IPv6 in brackets), or
    any gRPC target (``dns:///name:port``). ``token`` is an API key or access token, a :class:`TokenSource`, or
    None for the environment's credentials (FAPIAO_TOKEN, else the credentials file `fapiao login` writes).
    ``credentials`` are TLS channel credentials (``grpc.ssl_channel_credentials``; with a client certificate for
    mutual TLS); without them the channel is plaintext, which the register accepts on loopback addresses only.
    ``retry_when_asked`` (default True) resends a call the register refused with RESOURCE_EXHAUSTED after the
    delay its RetryInfo names (up to the call's deadline and a few attempts); False raises the refusal at once,
    for callers that pace themselves."""

    _stub_class: Any = None

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | TokenSource | None = None,
        timeout: float | None = 10.0,
        wait_for_ready: bool = True,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.Channel | grpc.aio.Channel | None = None,
        retry_when_asked: bool = True,
    ) -> None:
        target = with_default_port(target)
        if channel is None:
            channel = self._open(target, credentials, channel_options(retry_when_asked=retry_when_asked))
        self._channel: Any = channel
        self._tokens = TokenSource.of(token)
        self._renew = _renewer(target, credentials)
        self._timeout = timeout
        self._wait = wait_for_ready
        self._stub = self._stub_class(channel)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return self._tokens.metadata(self._renew)

    @staticmethod
    def _open(target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, Any]]) -> Any:
        raise NotImplementedError


class BlockingCalls(_Calls):
    """The base of the blocking clients.

    With ``wait_for_ready`` (the default) a call waits, up to its ``timeout``, for a connection instead of failing
    at once, which rides out a restarting worker or a rolling deploy; pass False to fail fast.
    """

    @staticmethod
    def _open(target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, Any]]) -> Any:
        channel = (
            grpc.secure_channel(target, credentials, options) if credentials else grpc.insecure_channel(target, options)
        )
        return trace_blocking(channel)  # client spans when the application traces (tracing.py)

    def _call(self, method: Any, request: Any, *, timeout: float | None = None) -> Any:
        """One call, with the client's deadline unless ``timeout`` gives a longer one for a long call."""
        try:
            return method(
                request, timeout=timeout or self._timeout, metadata=self._metadata(), wait_for_ready=self._wait
            )
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

    def _pages(self, method: Any, request: Any, items: str) -> Iterator[Any]:
        """Every item of a List call, fetched page by page (following next_page_token) as the caller iterates."""
        while True:
            page = self._call(method, request)
            yield from getattr(page, items)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncCalls(_Calls):
    """The base of the asyncio clients; the same conventions as :class:`BlockingCalls`."""

    @staticmethod
    def _open(target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, Any]]) -> Any:
        interceptors = asyncio_interceptors() or None  # client spans when the application traces (tracing.py)
        if credentials:
            return grpc.aio.secure_channel(target, credentials, options, interceptors=interceptors)
        return grpc.aio.insecure_channel(target, options, interceptors=interceptors)

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout, metadata=self._metadata(), wait_for_ready=self._wait)
        except grpc.RpcError as error:
            raise FapiaoError.from_rpc_error(error) from None

    async def _pages(self, method: Any, request: Any, items: str) -> AsyncIterator[Any]:
        """Every item of a List call, fetched page by page (following next_page_token) as the caller iterates."""
        while True:
            page = await self._call(method, request)
            for item in getattr(page, items):
                yield item
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
