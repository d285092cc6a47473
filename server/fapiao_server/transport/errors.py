"""Domain errors -> gRPC statuses with google.rpc details (AIP-193): every error carries an ErrorInfo with a
stable reason; bad input adds a BadRequest naming each field; UNAVAILABLE adds a RetryInfo; a refusing quota
(RESOURCE_EXHAUSTED) adds a RetryInfo, a QuotaFailure and ErrorInfo metadata ``limit`` and ``remaining``."""

from __future__ import annotations

import collections
import functools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ..domain.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Overloaded,
    PermissionDenied,
    QuotaExceeded,
    StatementTimeout,
    Unauthenticated,
    Unavailable,
)
from ..telemetry import spans

ERROR_DOMAIN = "fapiao.gov.cn"
log = logging.getLogger(__name__)
T = TypeVar("T")

_CODES = (
    (InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (Unavailable, code_pb2.UNAVAILABLE),
    (NotFound, code_pb2.NOT_FOUND),
    (Aborted, code_pb2.ABORTED),
    (Unauthenticated, code_pb2.UNAUTHENTICATED),
    (PermissionDenied, code_pb2.PERMISSION_DENIED),
    (AlreadyExists, code_pb2.ALREADY_EXISTS),
    (QuotaExceeded, code_pb2.RESOURCE_EXHAUSTED),
    (Overloaded, code_pb2.RESOURCE_EXHAUSTED),
    (StatementTimeout, code_pb2.DEADLINE_EXCEEDED),
)
_RETRY_UNAVAILABLE_AFTER = duration_pb2.Duration(seconds=1)
_INT64_MAX = 2**63 - 1
# A status travels in the call's trailers, which gRPC clients refuse past 8 KiB by default and balancers reset the
# stream for: a request with hundreds of bad lines would reach its caller as RESOURCE_EXHAUSTED or UNAVAILABLE (and
# be retried, and get a healthy node ejected) instead of INVALID_ARGUMENT. So an error lists field violations up to
# these budgets and says how many more there are; the caller fixes those and sends again to see the rest.
MAX_VIOLATION_BYTES = 3072  # BadRequest, serialized (base64 on the wire: a third more)
MAX_DESCRIPTION_CHARS = 200
MAX_MESSAGE_BYTES = 1024  # grpc-message, percent-encoded: 3 bytes for every byte of non-ASCII UTF-8
PUSHBACK = "grpc-retry-pushback-ms"
# A refusal that lifts within this long is worth the client's waiting and retrying within its deadline (the SDK's
# default is 10 s); one that lifts later is answered at once.
MAX_PUSHBACK_SECONDS = 5.0


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_for(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status that tells a client what went wrong."""
    code = next((code for kind, code in _CODES if isinstance(error, kind)), code_pb2.FAILED_PRECONDITION)
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
    if isinstance(error, QuotaExceeded):
        info.metadata["limit"] = f"{error.limit:g}"
        info.metadata["remaining"] = str(error.remaining)
    details = [_pack(info)]
    message = error.message
    if isinstance(error, InvalidArgument):
        violations = _bounded_violations(error.violations)
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
        if len(violations) < len(error.violations):
            message = "invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in violations)
    if isinstance(error, FailedPrecondition):
        violation = error_details_pb2.PreconditionFailure.Violation(
            type=error.reason, subject=error.subject, description=error.message
        )
        details.append(_pack(error_details_pb2.PreconditionFailure(violations=[violation])))
    if isinstance(error, Unavailable):
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=_RETRY_UNAVAILABLE_AFTER)))
    if isinstance(error, QuotaExceeded):
        details += _quota_details(error)
    if isinstance(error, Overloaded):
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=_duration(error.retry_after))))
    return status_pb2.Status(code=code, message=_bounded_message(message), details=details)


def _bounded_violations(violations: Sequence[FieldViolation]) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """As many of ``violations`` as fit MAX_VIOLATION_BYTES, then one naming how many were left out."""
    kept: list[error_details_pb2.BadRequest.FieldViolation] = []
    # Room for the closing "N more" violation, so adding it never breaks the budget.
    budget = MAX_VIOLATION_BYTES - 160
    for number, violation in enumerate(violations):
        description = violation.description
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[: MAX_DESCRIPTION_CHARS - 1] + "…"
        item = error_details_pb2.BadRequest.FieldViolation(field=violation.field[:200], description=description)
        budget -= item.ByteSize() + 3  # the field's tag and length
        if budget < 0:
            left = len(violations) - number
            kept.append(
                error_details_pb2.BadRequest.FieldViolation(
                    field="request",
                    description=f"{left} more invalid fields not listed here, to keep this error small enough to "
                    "deliver: correct the ones listed and send again to see them",
                )
            )
            break
        kept.append(item)
    return kept


def _bounded_message(message: str) -> str:
    """``message`` cut to MAX_MESSAGE_BYTES once percent-encoded as grpc-message is."""
    size = 0
    for index, char in enumerate(message):
        size += 1 if " " <= char <= "~" and char != "%" else 3 * len(char.encode())
        if size > MAX_MESSAGE_BYTES - 3:  # room for the "..."
            return message[:index] + "..."
    return message


def _duration(seconds: float) -> duration_pb2.Duration:
    delay = duration_pb2.Duration()
    # Never 0: a client that retries at once would only be refused again.
    delay.FromNanoseconds(max(1_000_000, round(seconds * 1e9)))
    return delay


def _quota_details(error: QuotaExceeded) -> list[any_pb2.Any]:
    delay = _duration(error.retry_after)
    violation = error_details_pb2.QuotaFailure.Violation(
        subject=error.subject,
        description=error.message,
        quota_id=error.quota,
        quota_value=min(math.floor(error.limit), _INT64_MAX),  # a principal's rate may be set absurdly high
    )
    return [
        _pack(error_details_pb2.RetryInfo(retry_delay=delay)),
        _pack(error_details_pb2.QuotaFailure(violations=[violation])),
    ]


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    pass


def grpc_status_for(error: DomainError) -> grpc.Status:
    """The status to abort a call with: ``status_for``'s, and for a refusal worth retrying soon, gRPC's own retry
    pushback (``grpc-retry-pushback-ms``), which the retry policy of any gRPC client (the SDK's included) honours
    as the delay before its next attempt; "-1" tells it not to retry at all (a quota that refills only tomorrow)."""
    status = rpc_status.to_status(status_for(error))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is None:
        return status
    pushback = str(max(1, round(retry_after * 1000))) if retry_after <= MAX_PUSHBACK_SECONDS else "-1"
    return _Status(status.code, status.details, (*status.trailing_metadata, (PUSHBACK, pushback)))


def _internal_status() -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN)
    return status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; it has been logged", details=[_pack(info)]
    )


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    if isinstance(error, DomainError):
        spans.annotate_call("fapiao.error.reason", error.reason)
        await context.abort_with_status(grpc_status_for(error))
    spans.annotate_call("fapiao.error.reason", "INTERNAL")
    log.exception("unexpected error in %s", type(error).__name__, exc_info=error)
    await context.abort_with_status(rpc_status.to_status(_internal_status()))


def unary_errors(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]]:
    """Decorate a unary servicer method so domain errors become rich statuses."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await handler(self, request, context)
        except Exception as error:  # abort raises; nothing escapes unmapped
            if isinstance(error, grpc.aio.AbortError):
                raise
            await _abort(context, error)
            raise AssertionError("unreachable: abort raises") from error

    return wrapper


def stream_errors(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[T]]:
    """Decorate a response-streaming servicer method so domain errors become rich statuses."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[T]:
        try:
            async for item in handler(self, request, context):
                yield item
        except Exception as error:
            if isinstance(error, grpc.aio.AbortError):
                raise
            await _abort(context, error)

    return wrapper
