"""Who may do what: principals, their roles, and the part of the register each may see (its scope).

Pure rules; the transport's policy table says which roles may call which RPC, and the services hand a
principal's ``Scope`` to the storage queries so that tenant scoping happens in SQL, not after it."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

from .errors import PermissionDenied, Violations
from .taxpayer import check_tax_id


class Role(enum.Enum):
    VERIFIER = "VERIFIER"  # verify anything; see only its own verification history
    TAXPAYER = "TAXPAYER"  # a verifier that also issues, voids and reverses for its own tax ids
    TAX_OFFICER = "TAX_OFFICER"  # verifies, reads and watches the invoices of its assigned regions
    AUDITOR = "AUDITOR"  # reads the audit log
    ADMIN = "ADMIN"  # manages principals, roles, keys and maintenance


@dataclass(frozen=True, slots=True)
class Scope:
    """The invoices a principal may read: those whose seller or buyer is one of ``tax_ids``, those of one of
    ``regions`` (the 4-digit region of invoice codes, e.g. 1100 Beijing), or every invoice when ``everything``.
    Nothing at all when empty."""

    tax_ids: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    everything: bool = False


NOTHING = Scope()
# The register's own upkeep (sweeps, re-reads after a change the caller was allowed to make).
EVERYTHING = Scope(everything=True)


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


_PRINCIPAL_ID = re.compile(r"[a-z][a-z0-9._-]{0,63}")
_REGION = re.compile(r"[0-9]{4}")
REGION_RULE = "a 4-digit region code, e.g. 1100"
USERNAME = re.compile(r"[a-z0-9._@-]{3,64}")
MAX_RATE_LIMIT = 1_000_000.0


@dataclass(frozen=True, slots=True)
class PrincipalAccount:
    """A principal as administrators see it: the caller it authenticates as, and how it may log in."""

    principal: Principal
    disabled: bool = False
    username: str | None = None
    certificate_name: str | None = None
    created_at: datetime | None = None


def check_principal(principal: Principal, certificate_name: str | None, *, field_prefix: str) -> Principal:
    """The principal with tax ids normalised, or InvalidArgument naming every bad field. A taxpayer needs at least
    one tax id and a tax officer one region; other roles cover nothing, so giving them either is a mistake."""
    problems = Violations()
    if not _PRINCIPAL_ID.fullmatch(principal.id):
        problems.add(f"{field_prefix}.id", "1-64 of a-z 0-9 . _ -, starting with a letter")
    tax_ids = set()
    for index, tax_id in enumerate(sorted(principal.tax_ids)):
        try:
            tax_ids.add(check_tax_id(tax_id))
        except ValueError as error:
            problems.add(f"{field_prefix}.tax_ids[{index}]", str(error))
    for index, region in enumerate(sorted(principal.regions)):
        if not _REGION.fullmatch(region):
            problems.add(f"{field_prefix}.regions[{index}]", REGION_RULE)
    if principal.role is Role.TAXPAYER and not principal.tax_ids:
        problems.add(f"{field_prefix}.tax_ids", "a taxpayer acts for at least one tax id")
    if principal.role is not Role.TAXPAYER and principal.tax_ids:
        problems.add(f"{field_prefix}.tax_ids", "only a taxpayer acts for tax ids")
    if principal.role is Role.TAX_OFFICER and not principal.regions:
        problems.add(f"{field_prefix}.regions", "a tax officer covers at least one region")
    if principal.role is not Role.TAX_OFFICER and principal.regions:
        problems.add(f"{field_prefix}.regions", "only a tax officer covers regions")
    if principal.rate_limit is not None and not 0 < principal.rate_limit <= MAX_RATE_LIMIT:
        problems.add(f"{field_prefix}.rate_limit", f"requests per second, above 0 and at most {MAX_RATE_LIMIT:,.0f}")
    if len(principal.display_name) > 200:
        problems.add(f"{field_prefix}.display_name", "at most 200 characters")
    if certificate_name is not None and not 1 <= len(certificate_name) <= 253:
        problems.add(f"{field_prefix}.certificate_name", "1-253 characters")
    problems.raise_if_any("INVALID_PRINCIPAL")
    return Principal(
        principal.id, principal.role, frozenset(tax_ids), principal.regions, principal.rate_limit,
        principal.display_name,
    )  # fmt: skip


def act_for(principal: Principal, tax_id: str, party: str) -> None:
    """Refuse unless ``principal`` acts for ``tax_id``, the ``party`` (seller, buyer, taxpayer) of the change."""
    if not principal.owns(tax_id):
        raise PermissionDenied(
            f"only the {party} {tax_id or '(none)'} may do this, and {principal.id} does not act for it",
            reason=f"NOT_THE_{party.upper()}",
        )


def is_region(code: str) -> bool:
    return bool(_REGION.fullmatch(code))


def cover_region(principal: Principal, region: str) -> None:
    """Refuse unless ``principal`` reads every invoice of ``region`` (a tax officer assigned to it)."""
    scope = principal.scope
    if not (scope.everything or region in scope.regions):
        raise PermissionDenied(
            f"only a tax officer assigned to region {region} may see all of its invoices, and {principal.id} is not",
            reason="NOT_THE_REGION_OFFICER",
        )
