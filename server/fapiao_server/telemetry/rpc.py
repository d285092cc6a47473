"""Calls as the transport, traces and metrics all see them: which are health checks, and how a call ended."""

from __future__ import annotations

import asyncio

import grpc

# Health checks: balancers and orchestrators probe every few seconds; none is admitted, traced or timed like a call.
HEALTH = "/grpc.health.v1.Health/"
# gRPC statuses that are the server's failure rather than the caller's (OpenTelemetry's semantic conventions for a
# gRPC server): they mark a server span as an error and give a call's metrics an error.type; INVALID_ARGUMENT,
# NOT_FOUND... do not.
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def final_status(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    """The status the call ended with: the one it was aborted (or set) with, else OK, UNKNOWN for an exception
    that escaped, and for a call cancelled under it DEADLINE_EXCEEDED or CANCELLED (the client went away)."""
    code = context.code()  # what abort_with_status() set too
    if isinstance(code, grpc.StatusCode):
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        remaining = context.time_remaining()
        return (
            grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED
        )
    return grpc.StatusCode.UNKNOWN
