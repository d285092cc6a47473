"""The access gate every call passes before its servicer runs: authenticate the caller (bearer token, API key or
client certificate), check the policy table, spend one of the principal's fleet-wide rate tokens, and make the
principal known to the call.

Refusals are UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED with an ErrorInfo reason, and each is
reported to ``on_refusal`` (the audit log)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from google.rpc import code_pb2

from ..domain.access import Principal
from ..domain.errors import DomainError, PermissionDenied, QuotaExceeded, Unauthenticated
from ..quotas.rate_limiter import FleetRateLimiter
from ..services.authentication import Authenticator
from ..telemetry import logs, spans
from .caller import bind_principal
from .errors import status_for
from .policy import OPEN, allowed_roles

log = logging.getLogger(__name__)
AUTHORIZATION = "authorization"
_BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Refusal:
    """A call the gate turned away, for the audit log."""

    method: str
    error: DomainError
    principal: Principal | None
    peer: str


def bearer_of(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The credential of an ``authorization: Bearer <credential>`` header, None without one.

    Two such headers are refused rather than one picked: a proxy that adds its own credential in front of the
    caller's would otherwise decide, silently, whose call this is."""
    values = [value for key, value in metadata or () if key == AUTHORIZATION]
    if not values:
        return None
    if len(values) > 1:
        raise Unauthenticated(f"send one authorization header, not {len(values)}")
    value = values[0]
    if isinstance(value, str) and value[:7].lower() == _BEARER and len(value) <= 4096:
        return value[7:].strip()
    raise Unauthenticated("the authorization header must be 'Bearer <token or API key>'")


def certificate_name_of(context: grpc.aio.ServicerContext) -> str | None:
    """The subject common name of the verified client certificate, on a mutual-TLS connection."""
    names = context.auth_context().get("x509_common_name")
    return names[0].decode() if names else None


class AccessGate:
    def __init__(
        self,
        authenticator: Authenticator,
        rate_limiter: FleetRateLimiter,
        *,
        on_refusal: Callable[[Refusal], None] | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._rate_limiter = rate_limiter
        self._on_refusal = on_refusal

    def needs_admission(self, method: str) -> bool:
        return allowed_roles(method) != OPEN

    async def admit(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]] | None, context: grpc.aio.ServicerContext
    ) -> Principal:
        """The call's principal, now bound to the call; raises Unauthenticated, PermissionDenied or QuotaExceeded."""
        principal = None
        try:
            roles = allowed_roles(method)
            if roles is None:
                raise PermissionDenied(f"{method} is not open to any caller", reason="METHOD_NOT_ALLOWED")
            bearer = bearer_of(metadata)
            principal = await self._authenticator.authenticate(
                bearer, None if bearer is not None else certificate_name_of(context)
            )
            # The id only (what the audit log records as the actor), never the display name or a credential.
            spans.annotate_call("fapiao.principal.id", principal.id)
            spans.annotate_call("fapiao.principal.role", principal.role.value)
            logs.bind_principal(principal.id)  # from here on, this call's log lines say who made it
            if principal.role not in roles:
                raise PermissionDenied(
                    f"a {principal.role.value} may not call {method.rsplit('/', 1)[-1]}", reason="ROLE_NOT_ALLOWED"
                )
            await self._rate_limiter.admit(principal.id, principal.rate_limit)
        except (Unauthenticated, PermissionDenied, QuotaExceeded) as error:
            log_refusal(error)
            if self._on_refusal is not None:
                self._on_refusal(Refusal(method, error, principal, context.peer()))
            raise
        bind_principal(principal)
        return principal


def log_refusal(error: DomainError) -> None:
    """One line for a call the gate turned away, with its status and reason (the principal, method and trace come
    from the call's context), never the credential it came with nor the caller's address. INFO for credentials
    and roles, what an operator looks for when a client reports being refused; DEBUG for rate limits, which a
    busy client meets many times a second and is told when to retry (the audit log records every refusal)."""
    level = logging.DEBUG if isinstance(error, QuotaExceeded) else logging.INFO
    if log.isEnabledFor(level):
        status = code_pb2.Code.Name(status_for(error).code)
        log.log(level, "call refused", extra={"grpc_status": status, "reason": error.reason})
