"""Requests that are not valid protobuf (corrupt wire format, invalid UTF-8 in a string field) are refused with
INVALID_ARGUMENT and an ErrorInfo, instead of grpcio's UNKNOWN with a logged traceback.

The interceptor takes deserialisation into its own hands: the method is registered to receive raw bytes and
this parses them, so a failure becomes an ordinary, well-described refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from ..domain.errors import FieldViolation, InvalidArgument
from .errors import status_for

Parse = Callable[[bytes], Any]


async def _parse(parse: Parse, raw: bytes, context: grpc.aio.ServicerContext) -> Any:
    try:
        return parse(raw)
    except DecodeError as error:
        refusal = InvalidArgument([FieldViolation("request", f"not a valid protobuf message: {error}")],
                                  reason="MALFORMED_REQUEST")  # fmt: skip
        await context.abort_with_status(rpc_status.to_status(status_for(refusal)))


def _wrap(handler: grpc.RpcMethodHandler, parse: Parse) -> grpc.RpcMethodHandler:
    serializer = handler.response_serializer

    async def parsed_stream(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for message in raw:
            yield await _parse(parse, message, context)

    if handler.unary_unary:
        unary_unary: Callable[..., Awaitable[Any]] = handler.unary_unary

        async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            return await unary_unary(await _parse(parse, raw, context), context)

        return grpc.unary_unary_rpc_method_handler(unary, response_serializer=serializer)
    if handler.unary_stream:
        unary_stream = handler.unary_stream

        async def server_stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in unary_stream(await _parse(parse, raw, context), context):
                yield response

        return grpc.unary_stream_rpc_method_handler(server_stream, response_serializer=serializer)
    if handler.stream_unary:
        stream_unary = handler.stream_unary

        async def client_stream(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
            return await stream_unary(parsed_stream(raw, context), context)

        return grpc.stream_unary_rpc_method_handler(client_stream, response_serializer=serializer)
    stream_stream = handler.stream_stream

    async def bidi(raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for response in stream_stream(parsed_stream(raw, context), context):
            yield response

    return grpc.stream_stream_rpc_method_handler(bidi, response_serializer=serializer)


class RejectMalformedRequests(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return _wrap(handler, handler.request_deserializer)
