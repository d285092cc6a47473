"""Managing principals, their logins and API keys (AdminService). Each change is announced by PostgreSQL, so
every worker's Authenticator forgets what it knew and the change holds at once everywhere. Each writes the call's
audit event in its own transaction (services.audit), so a worker killed once it has committed cannot lose it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime

from ..domain.access import USERNAME, PrincipalAccount, Role, check_principal
from ..domain.audit import AuditEvent, api_key_subject, principal_subject
from ..domain.calendar import utc_now
from ..domain.errors import FieldViolation, InvalidArgument, NotFound
from ..security import one_time_codes, tokens
from ..security.passwords import MIN_LENGTH, hash_password
from .audit import audit_of_change, change_audited
from .paging import Page, decode_text, encode_text, fingerprint, page_limit
from .ports import AccessStore, ApiKeyInfo

# Fields UpdatePrincipal may change (AIP-134 update_mask paths).
UPDATABLE = frozenset({"role", "display_name", "tax_ids", "regions", "rate_limit", "disabled", "certificate_name"})


def _no_principal(principal_id: str) -> NotFound:
    return NotFound(f"no principal {principal_id!r}", reason="PRINCIPAL_NOT_FOUND")


class Administration:
    """``changed`` is called after every change, so this worker's own Authenticator forgets at once (others do on
    PostgreSQL's announcement, a few milliseconds later)."""

    def __init__(
        self, store: AccessStore, *, changed: Callable[[], None] = lambda: None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._changed = changed
        self._clock = clock

    def _audit(self, subject: str) -> tuple[AuditEvent, ...]:
        """The call's audit event, for the transaction of its change to write (nothing outside an audited call)."""
        return audit_of_change(self._clock(), subject)

    async def get(self, principal_id: str) -> PrincipalAccount:
        account = (await self._store.accounts([principal_id])).get(principal_id)
        if account is None:
            raise _no_principal(principal_id)
        return account

    async def create(self, account: PrincipalAccount) -> PrincipalAccount:
        checked = check_principal(account.principal, account.certificate_name, field_prefix="principal")
        await self._store.create_principal(
            replace(account, principal=checked, disabled=False, username=None),
            audit=self._audit(principal_subject(checked.id)),
        )
        change_audited()
        return await self.get(checked.id)

    async def list(self, role: Role | None, *, page_size: int, page_token: str) -> Page[PrincipalAccount]:
        limit = page_limit(page_size)
        owner = fingerprint("principals", role)
        ids = await self._store.principal_ids(role=role, after=decode_text(page_token, owner) or "", limit=limit + 1)
        accounts = await self._store.accounts(ids[:limit])
        items = [accounts[i] for i in ids[:limit] if i in accounts]
        return Page(items, encode_text(ids[limit - 1], owner) if len(ids) > limit else "")

    async def update(self, changed: PrincipalAccount, mask: Collection[str]) -> PrincipalAccount:
        unknown = sorted(set(mask) - UPDATABLE)
        if unknown or not mask:
            raise InvalidArgument(
                [FieldViolation("update_mask", f"name some of {', '.join(sorted(UPDATABLE))}; not {unknown}")],
                reason="INVALID_UPDATE_MASK",
            )
        current = await self.get(changed.principal.id)
        new, old = changed.principal, current.principal
        principal = replace(
            old,
            role=new.role if "role" in mask else old.role,
            display_name=new.display_name if "display_name" in mask else old.display_name,
            tax_ids=new.tax_ids if "tax_ids" in mask else old.tax_ids,
            regions=new.regions if "regions" in mask else old.regions,
            rate_limit=new.rate_limit if "rate_limit" in mask else old.rate_limit,
        )
        certificate = changed.certificate_name if "certificate_name" in mask else current.certificate_name
        checked = check_principal(principal, certificate, field_prefix="principal")
        disabled = changed.disabled if "disabled" in mask else current.disabled
        updated = replace(current, principal=checked, certificate_name=certificate, disabled=disabled)
        if not await self._store.update_principal(updated, audit=self._audit(principal_subject(principal.id))):
            raise _no_principal(principal.id)
        change_audited()
        if disabled and not current.disabled:
            await self._store.revoke_sessions_of(principal.id)
        self._changed()
        return await self.get(principal.id)

    async def set_login(self, principal_id: str, username: str, password: str) -> tuple[str, str]:
        """Give the principal a password login; returns the new TOTP secret and its otpauth:// URI."""
        problems = []
        if not USERNAME.fullmatch(username):
            problems.append(FieldViolation("username", "3-64 of a-z 0-9 . _ @ -"))
        if not MIN_LENGTH <= len(password) <= 1024:
            problems.append(FieldViolation("password", f"{MIN_LENGTH} to 1024 characters"))
        if problems:
            raise InvalidArgument(problems, reason="INVALID_LOGIN")
        await self.get(principal_id)
        secret = one_time_codes.new_secret()
        await self._store.set_login(
            principal_id,
            username,
            await hash_password(password),
            secret,
            audit=self._audit(principal_subject(principal_id)),
        )
        change_audited()
        self._changed()
        return secret, one_time_codes.provisioning_uri(secret, username)

    async def create_api_key(
        self, principal_id: str, description: str, expires_at: datetime | None
    ) -> tuple[ApiKeyInfo, str]:
        problems = []
        if len(description) > 200:
            problems.append(FieldViolation("description", "at most 200 characters"))
        if expires_at is not None and expires_at <= self._clock():
            problems.append(FieldViolation("expire_time", "must be in the future"))
        if problems:
            raise InvalidArgument(problems, reason="INVALID_API_KEY")
        await self.get(principal_id)
        key_id, secret = tokens.new_api_key()
        info = await self._store.create_api_key(
            key_id, principal_id, tokens.secret_hash(secret), description, expires_at,
            audit=self._audit(principal_subject(principal_id)),  # whose key, as a refused CreateApiKey names it
        )  # fmt: skip
        change_audited()
        return info, secret

    async def api_keys(self, principal_id: str) -> Sequence[ApiKeyInfo]:
        await self.get(principal_id)
        return await self._store.api_keys_of(principal_id)

    async def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        info = await self._store.revoke_api_key(key_id, audit=self._audit(api_key_subject(key_id)))
        if info is None:
            raise NotFound(f"no API key {key_id!r}", reason="API_KEY_NOT_FOUND")
        change_audited()
        self._changed()
        return info

    async def revoke_sessions(self, principal_id: str) -> int:
        await self.get(principal_id)
        revoked = await self._store.revoke_sessions_of(principal_id, audit=self._audit(principal_subject(principal_id)))
        change_audited()
        self._changed()
        return revoked
