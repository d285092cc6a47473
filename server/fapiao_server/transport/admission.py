"""The one interceptor every call passes: the access gate first (who is calling, and may they), then the
request is parsed from its bytes, so that a message that is not valid protobuf is refused with
INVALID_ARGUMENT instead of grpcio's UNKNOWN with a logged traceback.

Doing both in one wrapper keeps the per-call cost of the security layer to the gate's own work."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ..domain.errors import DomainError, FieldViolation, InvalidArgument
from ..telemetry import spans
from ..telemetry.logs import bind_call
from ..telemetry.rpc import HEALTH
from .access_gate import AccessGate
from .errors import grpc_status_for
from .overload import CallLimiter

Parse = Callable[[bytes], Any]
Admit = Callable[[grpc.aio.ServicerContext], Awaitable[object]]


async def _refuse(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    spans.annotate_call("fapiao.error.reason", error.reason)
    await context.abort_with_status(grpc_status_for(error))


async def _parse(parse: Parse, raw: bytes, context: grpc.aio.ServicerContext) -> Any:
    try:
        return parse(raw)
    except DecodeError as error:
        await _refuse(context, InvalidArgument([FieldViolation("request", f"not a valid protobuf message: {error}")],
                                               reason="MALFORMED_REQUEST"))  # fmt: skip


async def _admitted(admit: Admit | None, context: grpc.aio.ServicerContext) -> None:
    if admit is None:
        return
    try:
        await admit(context)
    except DomainError as error:
        await _refuse(context, error)


async def _enter(limiter: CallLimiter, context: grpc.aio.ServicerContext) -> None:
    if not await limiter.enter():
        await context.abort_with_status(limiter.refusal())


def _wrap(
    handler: grpc.RpcMethodHandler, parse: Parse, admit: Admit | None, limiter: CallLimiter
) -> grpc.RpcMethodHandler:
    """The handler with its place taken (calls that may live long, response streams, take none), the gate passed
    and the request parsed, in that order: a call refused for want of a place costs as little as can be."""
    serializer = handler.response_serializer

    async def parsed_stream(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for message in raw:
            yield await _parse(parse, message, context)

    if handler.unary_unary:
        unary_unary: Callable[..., Awaitable[Any]] = handler.unary_unary

        async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            await _enter(limiter, context)
            try:
                await _admitted(admit, context)
                return await unary_unary(await _parse(parse, raw, context), context)
            finally:
                limiter.leave()

        return grpc.unary_unary_rpc_method_handler(unary, response_serializer=serializer)
    if handler.unary_stream:
        unary_stream = handler.unary_stream
        if not inspect.isasyncgenfunction(unary_stream):  # it answers with context.write() (grpc health's Watch)

            async def writing_stream(raw: bytes, context: grpc.aio.ServicerContext) -> None:
                await _admitted(admit, context)
                await unary_stream(await _parse(parse, raw, context), context)

            return grpc.unary_stream_rpc_method_handler(writing_stream, response_serializer=serializer)

        async def server_stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await _admitted(admit, context)
            async for response in unary_stream(await _parse(parse, raw, context), context):
                yield response

        return grpc.unary_stream_rpc_method_handler(server_stream, response_serializer=serializer)
    if handler.stream_unary:
        stream_unary = handler.stream_unary

        async def client_stream(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
            await _enter(limiter, context)
            try:
                await _admitted(admit, context)
                return await stream_unary(parsed_stream(raw, context), context)
            finally:
                limiter.leave()

        return grpc.stream_unary_rpc_method_handler(client_stream, response_serializer=serializer)
    stream_stream = handler.stream_stream
    if not inspect.isasyncgenfunction(stream_stream):  # it answers with context.write()

        async def writing_bidi(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
            await _enter(limiter, context)
            try:
                await _admitted(admit, context)
                await stream_stream(parsed_stream(raw, context), context)
            finally:
                limiter.leave()

        return grpc.stream_stream_rpc_method_handler(writing_bidi, response_serializer=serializer)

    async def bidi(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await _enter(limiter, context)
        try:
            await _admitted(admit, context)
            async for response in stream_stream(parsed_stream(raw, context), context):
                yield response
        finally:
            limiter.leave()

    return grpc.stream_stream_rpc_method_handler(bidi, response_serializer=serializer)


class AdmitCalls(grpc.aio.ServerInterceptor):
    """Takes each call's place (overload.py), runs the access gate (when given one) and parses requests for every
    method."""

    def __init__(self, gate: AccessGate | None, limiter: CallLimiter) -> None:
        self._gate = gate
        self._limiter = limiter
        # Health checks never wait for a place: a worker busy with calls is not unhealthy.
        self._unlimited = CallLimiter(max_in_flight=2**31, max_queued=0, max_wait=0)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        # This runs in the call's own task, as its handler will: every line the call logs names its method.
        bind_call(handler_call_details.method)
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        admit = None
        gate, method = self._gate, handler_call_details.method
        if gate is not None and gate.needs_admission(method):
            metadata = handler_call_details.invocation_metadata

            def admit(context: grpc.aio.ServicerContext) -> Awaitable[object]:
                return gate.admit(method, metadata, context)

        limiter = self._unlimited if method.startswith(HEALTH) else self._limiter
        return _wrap(handler, handler.request_deserializer, admit, limiter)
