"""Records the register's changes, logins and administration in the audit log, in one place: an interceptor around
the audited RPCs (transport.policy.AUDITED), which also records refusals of the reads a use case may refuse.

It sees each audited call's parsed request, its answer or its refusal, and records who made it (the principal the
access gate authenticated), what it acted on and how it ended; the call itself never waits for the log
(``AuditLog.record`` only queues). Calls the access gate turns away before any servicer runs are recorded by
``refusal_recorder``, through the same ``AuditLog.record``."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from ..domain.audit import (
    AuditEvent,
    AuditOutcome,
    api_key_subject,
    form_subject,
    invoice_subject,
    principal_subject,
    tax_period_subject,
)
from ..domain.calendar import utc_now
from ..domain.errors import PermissionDenied, QuotaExceeded, Unauthenticated
from ..services.audit import CALL_AUDIT, AuditLog, CallAudit
from .access_gate import Refusal
from .caller import principal_of

log = logging.getLogger(__name__)
_OUTCOMES = {
    grpc.StatusCode.OK: AuditOutcome.OK,
    grpc.StatusCode.PERMISSION_DENIED: AuditOutcome.DENIED,
    grpc.StatusCode.UNAUTHENTICATED: AuditOutcome.UNAUTHENTICATED,
}
_STATUS_DETAILS = "grpc-status-details-bin"
Actor = Callable[[grpc.aio.ServicerContext], tuple[str, str]]


ANONYMOUS = "anonymous"


def principal_actor(context: grpc.aio.ServicerContext) -> tuple[str, str]:
    """(principal id, role name) of the caller; "anonymous" for the calls that need no credentials (logins)."""
    try:
        principal = principal_of(context)
    except LookupError:
        return ANONYMOUS, ""
    return principal.id, principal.role.value


def refusal_recorder(log: AuditLog) -> Callable[[Refusal], None]:
    """What the access gate calls for each call it turns away: failed authentication, a role the policy does not
    allow, a rate limit."""
    outcomes = {Unauthenticated: AuditOutcome.UNAUTHENTICATED, PermissionDenied: AuditOutcome.DENIED}

    def record(refusal: Refusal) -> None:
        outcome = next((o for kind, o in outcomes.items() if isinstance(refusal.error, kind)), AuditOutcome.FAILED)
        if isinstance(refusal.error, QuotaExceeded):
            code = "RESOURCE_EXHAUSTED"
        elif outcome is AuditOutcome.UNAUTHENTICATED:
            code = "UNAUTHENTICATED"
        else:
            code = "PERMISSION_DENIED"
        principal = refusal.principal
        log.record(
            AuditEvent(
                time=utc_now(),
                actor=principal.id if principal is not None else ANONYMOUS,
                actor_role=principal.role.value if principal is not None else "",
                action=refusal.method,
                outcome=outcome,
                details={"code": code, "reason": refusal.error.reason, "peer": refusal.peer},
            )
        )

    return record


def subject_of(request: Any, response: Any | None) -> str:
    """What a change acted on: the invoice or form it answered with, else what the request named."""
    for message in (response, request):
        if message is None:
            continue
        if _has(message, "invoice"):
            invoice = message.invoice
            if getattr(invoice, "id", ""):
                return invoice_subject(invoice.id)
            if getattr(invoice, "invoice_number", ""):
                return invoice_subject(f"{invoice.invoice_code}:{invoice.invoice_number}")
        if _has(message, "form") and message.form.id:
            return form_subject(message.form.id)
        if getattr(message, "form_id", ""):
            return form_subject(message.form_id)
        if getattr(message, "tax_id", "") and hasattr(message, "month"):
            return tax_period_subject(message.tax_id, message.year, message.month)
        if _has(message, "principal") and message.principal.id:
            return principal_subject(message.principal.id)
        if getattr(message, "principal_id", ""):
            return principal_subject(message.principal_id)
        if getattr(message, "key_id", ""):
            return api_key_subject(message.key_id)
        if getattr(message, "username", ""):
            return f"users/{message.username}"
        if _has(message, "seller"):  # an invoice that was not issued: whose it would have been
            return f"taxpayers/{message.seller.tax_id}"
    return ""


def _has(message: Any, field: str) -> bool:
    try:
        return bool(message.HasField(field))
    except ValueError:  # no such message field on this type
        return False


def _refusal(context: grpc.aio.ServicerContext) -> tuple[grpc.StatusCode | None, str]:
    """The status code a call was refused with (None if none was set), and the ErrorInfo reason of its
    google.rpc details."""
    code = context.code()
    if code is not None and not isinstance(code, grpc.StatusCode):
        code = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    reason = ""
    for key, value in context.trailing_metadata() or ():
        if key == _STATUS_DETAILS:
            with contextlib.suppress(DecodeError):  # details we did not write: the code alone will do
                for detail in status_pb2.Status.FromString(value).details:
                    info = error_details_pb2.ErrorInfo()
                    if detail.Unpack(info):
                        reason = info.reason
    return code, reason


class AuditTrail(grpc.aio.ServerInterceptor):
    """Records every call of ``methods`` (full method names, unary) in ``log``, and the refusals
    (PERMISSION_DENIED, UNAUTHENTICATED) of ``refusals_of``. It must run inside the access gate (after requests
    are parsed, with the principal known) so it sees messages, not bytes."""

    def __init__(
        self,
        log: AuditLog,
        methods: Collection[str],
        actor: Actor = principal_actor,
        *,
        refusals_of: Collection[str] = (),
    ) -> None:
        self._log = log
        self._refusals_only = frozenset(refusals_of) - frozenset(methods)
        self._methods = frozenset(methods) | self._refusals_only
        self._actor = actor
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in self._methods:
            return handler
        if handler.unary_unary is None and not inspect.isasyncgenfunction(handler.unary_stream):
            return handler
        # The servicer's handlers are the same objects call after call: wrap each once, not once per call.
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            if handler.unary_unary is not None:
                wrapped = grpc.unary_unary_rpc_method_handler(
                    self._audited(method, handler.unary_unary),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
            else:
                wrapped = grpc.unary_stream_rpc_method_handler(
                    self._audited_stream(method, handler.unary_stream),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
            cached = self._wrapped[method] = (handler, wrapped)
        return cached[1]

    def _audited_stream(self, method: str, behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
        """A response stream (WatchInvoices): recorded when it is refused, not for each message it sends."""

        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                async for response in behaviour(request, context):
                    yield response
            except BaseException:
                self._record(method, request, None, context)
                raise

        return call

    def _audited(self, method: str, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """A change's use case writes the call's event in the change's own transaction (services.audit.CALL_AUDIT),
        so that it is as durable as the change; everything else (refusals, failures, replays of a request id, calls
        that commit nothing, such as AdminService's reads) is queued here."""

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            audit = CallAudit(self._event(method, request, None, context, AuditOutcome.OK, {}))
            token = CALL_AUDIT.set(audit)
            try:
                response = await behaviour(request, context)
            except BaseException:  # refused, failed or cancelled: recorded, then raised on unchanged
                self._record(method, request, None, context)
                raise
            finally:
                CALL_AUDIT.reset(token)
            if audit.written:
                self._log.wake()
            else:
                self._record(method, request, response, context)
            return response

        return call

    def _event(
        self,
        method: str,
        request: Any,
        response: Any | None,
        context: grpc.aio.ServicerContext,
        outcome: AuditOutcome,
        details: dict[str, str],
    ) -> AuditEvent:
        actor, role = self._actor(context)
        request_id = getattr(request, "request_id", "")
        return AuditEvent(
            time=utc_now(),
            actor=actor,
            actor_role=role,
            action=method,
            outcome=outcome,
            subject=subject_of(request, response),
            details={**details, **({"request_id": request_id} if request_id else {})},
        )

    def _record(self, method: str, request: Any, response: Any | None, context: grpc.aio.ServicerContext) -> None:
        """Record the call: OK with its ``response``, else how the context says it ended."""
        try:
            outcome, details = AuditOutcome.OK, {}
            if response is None:
                code, reason = _refusal(context)
                if code is None or code is grpc.StatusCode.OK:  # ended without a status: the client went away, or a bug
                    code = grpc.StatusCode.CANCELLED if context.cancelled() else grpc.StatusCode.UNKNOWN
                outcome = _OUTCOMES.get(code, AuditOutcome.FAILED)
                details = {"code": code.name, **({"reason": reason} if reason else {})}
            if method in self._refusals_only and outcome not in (AuditOutcome.DENIED, AuditOutcome.UNAUTHENTICATED):
                return
            self._log.record(self._event(method, request, response, context, outcome, details))
        except Exception:  # a bug here must not turn the call's own answer into an error
            log.exception("could not record %s in the audit log", method)
