"""Errors raised by the client: a grpc.RpcError enriched with the register's google.rpc details."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class FapiaoError(Exception):
    """A call the register refused or could not answer.

    ``code`` is the gRPC status code, ``reason`` the stable ErrorInfo reason (e.g. INVALID_VERIFICATION_QUERY),
    ``field_violations`` the bad request fields, ``retry_delay`` seconds to wait before retrying (if given).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        field_violations: tuple[FieldViolation, ...] = (),
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.field_violations = field_violations
        self.retry_delay = retry_delay

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> FapiaoError:
        """From a google.rpc.Status (as carried by a failed call, or by one item of a batch)."""
        code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
        reason, violations, retry = "", [], None
        for detail in status.details:
            info, bad, retry_info = (
                error_details_pb2.ErrorInfo(),
                error_details_pb2.BadRequest(),
                error_details_pb2.RetryInfo(),
            )
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(bad):
                violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif detail.Unpack(retry_info):
                retry = retry_info.retry_delay.ToTimedelta().total_seconds()
        return cls(code, status.message, reason=reason, field_violations=tuple(violations), retry_delay=retry)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> FapiaoError:
        """From a failed call (sync or aio); falls back to the bare status when it carries no details."""
        call = error if isinstance(error, grpc.Call) or hasattr(error, "trailing_metadata") else None
        status = None
        if call is not None:
            try:
                status = rpc_status.from_call(call)  # type: ignore[arg-type]
            except ValueError:
                status = None
        if status is not None:
            return cls.from_status(status)
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code, details or "")
