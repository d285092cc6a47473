"""AuditService messages <-> the audit log's domain types."""

from __future__ import annotations

from fapiao.v1 import audit_service_pb2 as pb

from ..domain.audit import AuditOutcome, ChainCheck, ChainedEvent
from ..domain.errors import Violations
from ..services.ports import AuditFilter
from .converters import _instant, _timestamp

_OUTCOMES = {
    pb.AUDIT_OUTCOME_OK: AuditOutcome.OK,
    pb.AUDIT_OUTCOME_DENIED: AuditOutcome.DENIED,
    pb.AUDIT_OUTCOME_UNAUTHENTICATED: AuditOutcome.UNAUTHENTICATED,
    pb.AUDIT_OUTCOME_FAILED: AuditOutcome.FAILED,
}
_OUTCOME_MESSAGES = {outcome: number for number, outcome in _OUTCOMES.items()}
# Longer than any actor or action the log holds (domain.audit.MAX_TEXT): a longer filter is a mistake.
MAX_FILTER_TEXT = 256


def audit_filter(message: pb.ListAuditEventsRequest) -> AuditFilter:
    problems = Violations()
    outcome = None
    if message.outcome:
        outcome = _OUTCOMES.get(message.outcome)
        if outcome is None:
            problems.add("outcome", f"{message.outcome} is not an audit outcome")
    for name in ("actor", "action"):
        value = getattr(message, name)
        if len(value) > MAX_FILTER_TEXT or "\x00" in value:
            problems.add(name, f"at most {MAX_FILTER_TEXT} characters, no NUL")
    where = AuditFilter(
        actor=message.actor,
        action=message.action,
        outcome=outcome,
        start_time=_instant(message, "start_time", problems),
        end_time=_instant(message, "end_time", problems),
    )
    problems.raise_if_any("INVALID_AUDIT_FILTER")
    return where


def event_message(row: ChainedEvent) -> pb.AuditEvent:
    event = row.event
    return pb.AuditEvent(
        id=row.id,
        event_time=_timestamp(event.time),
        actor=event.actor,
        actor_role=event.actor_role,
        action=event.action,
        outcome=_OUTCOME_MESSAGES[event.outcome],
        subject=event.subject,
        details=dict(event.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def check_message(check: ChainCheck) -> pb.VerifyAuditChainResponse:
    return pb.VerifyAuditChainResponse(
        intact=check.intact,
        first_broken_event_id=check.first_broken_id or 0,
        problem=check.problem,
        events_checked=check.checked,
        last_good_event_id=check.last_id or 0,
        head_hash=check.head,
    )
