"""Errors the domain raises. The transport maps each to a gRPC status with a stable ErrorInfo reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: its path in the request (proto field names) and what is wrong with it."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error with a stable, machine-readable reason."""

    reason = "FAPIAO_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(DomainError):
    """The request is malformed; each bad field is named. Maps to INVALID_ARGUMENT + BadRequest."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Iterable[FieldViolation], *, reason: str | None = None) -> None:
        self.violations = tuple(violations)
        fields = ", ".join(dict.fromkeys(v.field for v in self.violations))
        super().__init__(f"invalid {fields}: " + "; ".join(v.description for v in self.violations), reason=reason)


class Unavailable(DomainError):
    """A dependency the answer needs (the database) cannot be reached. Maps to UNAVAILABLE; retry later."""

    reason = "STORAGE_UNAVAILABLE"


class Overloaded(DomainError):
    """The worker is at capacity and the call could not wait its turn; nothing was done. Maps to
    RESOURCE_EXHAUSTED with a RetryInfo of ``retry_after`` seconds: send it again then, here or to another node."""

    reason = "SERVER_OVERLOADED"

    def __init__(self, retry_after: float) -> None:
        super().__init__("the server is at capacity; send the call again shortly")
        self.retry_after = retry_after


class StatementTimeout(DomainError):
    """The answer took longer than the register allows one statement (a report over too much data). Maps to
    DEADLINE_EXCEEDED, which neither the SDK nor the balancer retries: repeated as is it would take as long."""

    reason = "STATEMENT_TIMEOUT"


class Violations:
    """Collects field violations so a request reports every bad field at once, not just the first."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def extend(self, error: InvalidArgument) -> None:
        self._items.extend(error.violations)

    def __bool__(self) -> bool:
        return bool(self._items)

    def raise_if_any(self, reason: str) -> None:
        if self._items:
            raise InvalidArgument(self._items, reason=reason)


class NotFound(DomainError):
    """The invoice or form a change or read names does not exist. Maps to NOT_FOUND."""

    reason = "NOT_FOUND"


class FailedPrecondition(DomainError):
    """A rule refuses the change in the invoice's present state; ``reason`` names the rule (e.g.
    VOID_PERIOD_ENDED). Maps to FAILED_PRECONDITION with a PreconditionFailure. Retrying will not help."""

    reason = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, reason: str, subject: str = "") -> None:
        super().__init__(message, reason=reason)
        self.subject = subject


class Aborted(DomainError):
    """A concurrent change to the same invoice got there first, or the database broke a lock cycle. Maps to
    ABORTED: re-read and retry the call as is."""

    reason = "CONCURRENT_CHANGE"


class Unauthenticated(DomainError):
    """The call carries no credentials, or ones that are invalid, expired or revoked. Maps to UNAUTHENTICATED;
    ``reason`` says which (CREDENTIALS_MISSING, CREDENTIALS_INVALID, TOKEN_EXPIRED, CREDENTIALS_REVOKED)."""

    reason = "CREDENTIALS_INVALID"


class PermissionDenied(DomainError):
    """The caller is who it says but may not do this. Maps to PERMISSION_DENIED. Where even the existence of
    the thing asked about is private (another tenant's invoice), NotFound is raised instead."""

    reason = "PERMISSION_DENIED"


class AlreadyExists(DomainError):
    """What a create call names exists already (a principal id, a username). Maps to ALREADY_EXISTS."""

    reason = "ALREADY_EXISTS"


class QuotaExceeded(DomainError):
    """A quota refuses the call now. ``quota`` names which (RATE_LIMIT, INVOICE_VERIFICATIONS_PER_DAY), ``limit``
    is its size, ``remaining`` what is left (0 when refused) and ``retry_after`` the seconds until it allows the
    call again. Maps to RESOURCE_EXHAUSTED with ErrorInfo, RetryInfo and QuotaFailure."""

    reason = "QUOTA_EXCEEDED"

    def __init__(
        self, message: str, *, quota: str, limit: float, retry_after: float, remaining: int = 0, subject: str = ""
    ) -> None:
        super().__init__(message, reason=quota)
        self.quota = quota
        self.limit = limit
        self.remaining = remaining
        self.retry_after = retry_after
        # Who or what the quota is counted for (a principal, an invoice), for QuotaFailure.subject.
        self.subject = subject
