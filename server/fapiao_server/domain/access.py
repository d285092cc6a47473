"""Who may do what: principals, their roles, and the part of the register each may see (its scope).

Pure rules; the transport's policy table says which roles may call which RPC, and the services hand a
principal's ``Scope`` to the storage queries so that tenant scoping happens in SQL, not after it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Role(enum.Enum):
    VERIFIER = "VERIFIER"  # verify anything; see only its own verification history
    TAXPAYER = "TAXPAYER"  # a verifier that also issues, voids and reverses for its own tax ids
    TAX_OFFICER = "TAX_OFFICER"  # reads, watches and reports across its assigned regions
    AUDITOR = "AUDITOR"  # reads the audit log
    ADMIN = "ADMIN"  # manages principals, roles, keys and maintenance


@dataclass(frozen=True, slots=True)
class Scope:
    """The invoices a principal may read: those whose seller or buyer is one of ``tax_ids``, those issued in one
    of ``regions`` (6-digit division codes), or every invoice when ``everything``. Nothing at all when empty."""

    tax_ids: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    everything: bool = False

    def covers(self, *, seller: str, buyer: str, region: str) -> bool:
        return self.everything or seller in self.tax_ids or buyer in self.tax_ids or region in self.regions

    @property
    def empty(self) -> bool:
        return not (self.everything or self.tax_ids or self.regions)


NOTHING = Scope()


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``id`` is what history and the audit log record as the actor."""

    id: str
    role: Role
    tax_ids: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    # Requests per second this principal may make across the whole fleet; None means the configured default.
    rate_limit: float | None = None
    display_name: str = field(default="", compare=False)

    @property
    def scope(self) -> Scope:
        """The invoices this principal may read."""
        if self.role is Role.TAXPAYER:
            return Scope(tax_ids=self.tax_ids)
        if self.role is Role.TAX_OFFICER:
            return Scope(regions=self.regions)
        return NOTHING

    def owns(self, tax_id: str) -> bool:
        """May act as this taxpayer (issue, void, reverse as seller; answer forms as buyer)."""
        return self.role is Role.TAXPAYER and tax_id in self.tax_ids
