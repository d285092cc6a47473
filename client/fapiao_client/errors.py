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


@dataclass(frozen=True)
class QuotaViolation:
    """One exhausted quota: what it is counted for (``subject``), which quota (``quota_id``), and why."""

    subject: str
    quota_id: str
    description: str


class FapiaoError(Exception):
    """A call the register refused or could not answer.

    ``code`` is the gRPC status code, ``reason`` the stable ErrorInfo reason (e.g. INVALID_VERIFICATION_QUERY),
    ``field_violations`` the bad request fields, ``retry_delay`` seconds to wait before retrying (if given).
    A quota refusal (RESOURCE_EXHAUSTED) also tells ``quota`` (RATE_LIMIT, INVOICE_VERIFICATIONS_PER_DAY),
    its ``limit``, what is ``remaining`` (0 when refused) and the ``quota_violations`` of its QuotaFailure;
    ``retry_after`` is ``retry_delay`` under the name quota clients expect.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        field_violations: tuple[FieldViolation, ...] = (),
        retry_delay: float | None = None,
        limit: float | None = None,
        remaining: int | None = None,
        quota_violations: tuple[QuotaViolation, ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.field_violations = field_violations
        self.retry_delay = retry_delay
        self.limit = limit
        self.remaining = remaining
        self.quota_violations = quota_violations

    @property
    def retry_after(self) -> float | None:
        return self.retry_delay

    @property
    def quota(self) -> str:
        """The refusing quota's id, or "" when this is not a quota refusal."""
        return next((v.quota_id for v in self.quota_violations if v.quota_id), "")

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> FapiaoError:
        """From a google.rpc.Status (as carried by a failed call, or by one item of a batch)."""
        code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
        reason, violations, retry, quotas = "", [], None, []
        limit: float | None = None
        remaining: int | None = None
        for detail in status.details:
            info, bad, retry_info, quota = (
                error_details_pb2.ErrorInfo(),
                error_details_pb2.BadRequest(),
                error_details_pb2.RetryInfo(),
                error_details_pb2.QuotaFailure(),
            )
            if detail.Unpack(info):
                reason = info.reason
                limit = _number(info.metadata.get("limit"))
                left = _number(info.metadata.get("remaining"))
                remaining = None if left is None else int(left)
            elif detail.Unpack(bad):
                violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif detail.Unpack(retry_info):
                retry = retry_info.retry_delay.ToTimedelta().total_seconds()
            elif detail.Unpack(quota):
                quotas += [QuotaViolation(v.subject, v.quota_id, v.description) for v in quota.violations]
        return cls(
            code,
            status.message,
            reason=reason,
            field_violations=tuple(violations),
            retry_delay=retry,
            limit=limit,
            remaining=remaining,
            quota_violations=tuple(quotas),
        )

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> FapiaoError:
        """From a failed call (sync or aio); falls back to the bare status when it carries no details."""
        call = error if isinstance(error, grpc.Call) or hasattr(error, "trailing_metadata") else None
        status = None
        if call is not None:
            try:
                status = rpc_status.from_call(call)
            except ValueError:
                status = None
        if status is not None:
            return cls.from_status(status)
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code, details or "")


def _number(text: str | None) -> float | None:
    """A number from ErrorInfo metadata; None when absent or not a number (a newer server may change it)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None
