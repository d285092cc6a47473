"""Every RPC spends a token of its caller's fleet-wide rate before it runs; past the rate it is refused with
RESOURCE_EXHAUSTED (RetryInfo, QuotaFailure). Health checks and reflection are never limited: balancers and
tools must always get through.

Keyed by the ``x-fapiao-caller`` header until authentication lands; the auth interceptor will then call
``FleetRateLimiter.admit(principal.id, principal.rate_limit)`` itself and this interceptor goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from ..domain.errors import DomainError
from ..quotas.rate_limiter import FleetRateLimiter
from .caller import caller_in
from .errors import status_for

_UNLIMITED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _refusing(handler: grpc.RpcMethodHandler, error: DomainError) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that answers every call with ``error``'s status."""
    status = rpc_status.to_status(status_for(error))

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort_with_status(status)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort_with_status(status)
        yield  # unreachable: makes this an async generator, the shape streaming handlers have

    shape = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse, **shape)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, **shape)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse, **shape)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, **shape)


class RateLimitCallers(grpc.aio.ServerInterceptor):
    def __init__(self, limiter: FleetRateLimiter) -> None:
        self._limiter = limiter

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(_UNLIMITED):
            return handler
        try:
            await self._limiter.admit(caller_in(handler_call_details.invocation_metadata))
        except DomainError as error:  # past the rate, or a malformed caller header
            return _refusing(handler, error)
        return handler
