"""How audit events and chain checks look on a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from fapiao.v1 import audit_service_pb2 as pb

from .render import time_text


def outcome_name(outcome: int) -> str:
    return pb.AuditOutcome.Name(outcome).removeprefix("AUDIT_OUTCOME_")


def events_table(events: Sequence[pb.AuditEvent]) -> Table:
    table = Table("id", "time", "actor", "role", "action", "outcome", "subject", "details")
    for event in events:
        table.add_row(
            str(event.id),
            time_text(event.event_time),
            event.actor,
            event.actor_role,
            event.action,
            outcome_name(event.outcome),
            event.subject,
            " ".join(f"{key}={value}" for key, value in sorted(event.details.items())),
        )
    return table


def print_check(check: pb.VerifyAuditChainResponse, console: Console) -> None:
    if check.intact:
        console.print(f"[bold green]intact[/]: {check.events_checked} events checked")
    else:
        console.print(
            f"[bold red]broken[/] at event {check.first_broken_event_id}: {check.problem} "
            f"({check.events_checked} events checked)",
            soft_wrap=True,
        )
    if check.last_good_event_id:
        console.print(f"head: event {check.last_good_event_id}, hash {check.head_hash.hex()}", soft_wrap=True)
