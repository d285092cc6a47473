"""In-memory fakes of the services' ports, for unit tests of the use cases without PostgreSQL or Redis.

Each fake keeps the promise its port's docstring makes (services/ports.py) and nothing more, so a use case
tested against it behaves as it does against the real adapters, which the integration tests check. The records'
``fail_with`` makes the next calls raise, as a store that is down does."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from fapiao_server.domain.access import PrincipalAccount, Role, Scope
from fapiao_server.domain.audit import AuditEvent
from fapiao_server.domain.errors import AlreadyExists, DomainError
from fapiao_server.domain.invoice import Invoice, InvoiceKey
from fapiao_server.domain.reporting import SummaryQuery, Totals
from fapiao_server.domain.verification import VerificationRecord
from fapiao_server.services.ports import ApiKeyInfo, ApiKeySecret, LoginSecret, RecordFilter, SessionState


class InMemoryInvoices:
    """InvoiceLookup over a dict; counts the lookups it answered."""

    def __init__(self, invoices: Iterable[Invoice] = ()) -> None:
        self._by_key = {invoice.key: invoice for invoice in invoices}
        self.lookups = 0

    def add(self, invoice: Invoice) -> None:
        self._by_key[invoice.key] = invoice

    async def get(self, key: InvoiceKey) -> Invoice | None:
        return (await self.get_many([key])).get(key)

    async def get_many(self, keys: Sequence[InvoiceKey]) -> dict[InvoiceKey, Invoice]:
        self.lookups += 1
        return {key: self._by_key[key] for key in keys if key in self._by_key}


class InMemoryRecords:
    """RecordAppender and RecordReader over a list: ids from a counter, the history newest first by
    (verify_time, id), as the register's keyset pages read it."""

    def __init__(self) -> None:
        self.stored: list[VerificationRecord] = []
        self._ids = itertools.count(1)
        self.fail_with: DomainError | None = None

    async def reserve_ids(self, count: int) -> list[int]:
        if self.fail_with is not None:
            raise self.fail_with
        return [next(self._ids) for _ in range(count)]

    async def append(self, records: Sequence[VerificationRecord]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.stored.extend(records)

    async def list(
        self, caller: str, where: RecordFilter, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[VerificationRecord]:
        def wanted(record: VerificationRecord) -> bool:
            return (
                record.caller == caller
                and where.invoice_code in (None, record.key.invoice_code)
                and where.invoice_number in (None, record.key.invoice_number)
                and where.outcome in (None, record.outcome)
                and (where.start_time is None or record.verify_time >= where.start_time)
                and (where.end_time is None or record.verify_time < where.end_time)
                and (after is None or (record.verify_time, record.id) < after)
            )

        newest_first = sorted(self.stored, key=lambda record: (record.verify_time, record.id), reverse=True)
        return [record for record in newest_first if wanted(record)][:limit]


class InMemoryAttempts:
    """AttemptCounter over a Counter. It never lapses a counter: the daily limit names each day's counters apart
    (DailyVerificationLimit.counter), so a new day counts afresh without it."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    async def count(self, counters: Sequence[str], *, lapse_at: datetime) -> list[int]:
        found = []
        for name in counters:
            self.counts[name] += 1
            found.append(self.counts[name])
        return found


class CannedReports:
    """ReportStore that answers every summary with the same groups and remembers what it was asked, and in which
    scope, so a test sees what the use case let through to the store."""

    def __init__(self, groups: Sequence[Totals] = ()) -> None:
        self.groups = list(groups)
        self.asked: list[tuple[SummaryQuery, Scope]] = []

    async def summarize(self, where: SummaryQuery, scope: Scope) -> list[Totals]:
        self.asked.append((where, scope))
        return list(self.groups)


@dataclass
class _Login:
    username: str
    password_hash: str
    totp_secret: str
    last_step: int = 0


@dataclass
class _Session:
    principal_id: str
    refresh_hash: bytes
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass
class _ApiKey:
    info: ApiKeyInfo
    secret_hash: bytes


class InMemoryAccess:
    """AccessStore over dicts. ``audit`` events of a change land in ``audited`` only when the change is made, as
    the port promises; ``now`` stamps revocations and creations."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self.principals: dict[str, PrincipalAccount] = {}
        self.logins: dict[str, _Login] = {}  # by principal id
        self.sessions: dict[uuid.UUID, _Session] = {}
        self.api_keys: dict[str, _ApiKey] = {}
        self.audited: list[AuditEvent] = []

    async def accounts(self, ids: Sequence[str]) -> dict[str, PrincipalAccount]:
        return {principal_id: self.principals[principal_id] for principal_id in ids if principal_id in self.principals}

    async def principal_for_certificate(self, name: str) -> str | None:
        return next((a.principal.id for a in self.principals.values() if a.certificate_name == name), None)

    async def principal_ids(self, *, role: Role | None, after: str, limit: int) -> list[str]:
        ids = sorted(i for i, a in self.principals.items() if i > after and role in (None, a.principal.role))
        return ids[:limit]

    async def create_principal(self, account: PrincipalAccount, *, audit: Sequence[AuditEvent] = ()) -> None:
        name = account.certificate_name
        if account.principal.id in self.principals or (name and await self.principal_for_certificate(name)):
            raise AlreadyExists(f"principal {account.principal.id} exists", reason="PRINCIPAL_EXISTS")
        self.principals[account.principal.id] = replace(account, created_at=self._now())
        self.audited.extend(audit)

    async def update_principal(self, account: PrincipalAccount, *, audit: Sequence[AuditEvent] = ()) -> bool:
        old = self.principals.get(account.principal.id)
        if old is None:
            return False
        self.principals[account.principal.id] = replace(account, created_at=old.created_at)
        self.audited.extend(audit)
        return True

    async def login(self, username: str) -> LoginSecret | None:
        for principal_id, login in self.logins.items():
            if login.username == username:
                return LoginSecret(principal_id, login.password_hash, login.totp_secret, login.last_step)
        return None

    async def accept_totp_step(self, principal_id: str, step: int) -> bool:
        login = self.logins[principal_id]
        if step <= login.last_step:
            return False
        login.last_step = step
        return True

    async def set_login(
        self, principal_id: str, username: str, password_hash: str, totp_secret: str, *,
        audit: Sequence[AuditEvent] = (),
    ) -> None:  # fmt: skip
        if any(login.username == username for owner, login in self.logins.items() if owner != principal_id):
            raise AlreadyExists(f"the username {username} is taken", reason="USERNAME_TAKEN")
        self.logins[principal_id] = _Login(username, password_hash, totp_secret)
        await self.revoke_sessions_of(principal_id)
        self.audited.extend(audit)

    async def create_session(
        self, session_id: uuid.UUID, principal_id: str, refresh_hash: bytes, expires_at: datetime, *,
        audit: Sequence[AuditEvent] = (),
    ) -> None:  # fmt: skip
        self.sessions[session_id] = _Session(principal_id, refresh_hash, expires_at)
        self.audited.extend(audit)

    async def session_state(self, session_id: uuid.UUID) -> SessionState | None:
        session = self.sessions.get(session_id)
        return None if session is None else SessionState(session.principal_id, session.expires_at, session.revoked_at)

    async def rotate_refresh_token(
        self, session_id: uuid.UUID, old_hash: bytes, new_hash: bytes, *, audit: Sequence[AuditEvent] = ()
    ) -> SessionState | None:
        session = self.sessions.get(session_id)
        live = session is not None and session.revoked_at is None and session.expires_at > self._now()
        if session is None or not live or session.refresh_hash != old_hash:
            return None
        session.refresh_hash = new_hash
        self.audited.extend(audit)
        return await self.session_state(session_id)

    async def revoke_session(self, session_id: uuid.UUID, *, audit: Sequence[AuditEvent] = ()) -> None:
        session = self.sessions.get(session_id)
        if session is not None and session.revoked_at is None:
            session.revoked_at = self._now()
            self.audited.extend(audit)

    async def revoke_sessions_of(self, principal_id: str, *, audit: Sequence[AuditEvent] = ()) -> int:
        live = [s for s in self.sessions.values() if s.principal_id == principal_id and s.revoked_at is None]
        for session in live:
            session.revoked_at = self._now()
        if live:
            self.audited.extend(audit)
        return len(live)

    async def create_api_key(
        self, key_id: str, principal_id: str, secret_hash: bytes, description: str, expires_at: datetime | None, *,
        audit: Sequence[AuditEvent] = (),
    ) -> ApiKeyInfo:  # fmt: skip
        info = ApiKeyInfo(key_id, principal_id, description, self._now(), expires_at, None)
        self.api_keys[key_id] = _ApiKey(info, secret_hash)
        self.audited.extend(audit)
        return info

    async def api_key_secret(self, key_id: str) -> ApiKeySecret | None:
        key = self.api_keys.get(key_id)
        if key is None:
            return None
        return ApiKeySecret(key.info.principal_id, key.secret_hash, key.info.expires_at, key.info.revoked_at)

    async def api_keys_of(self, principal_id: str) -> Sequence[ApiKeyInfo]:
        return [key.info for key in self.api_keys.values() if key.info.principal_id == principal_id]

    async def revoke_api_key(self, key_id: str, *, audit: Sequence[AuditEvent] = ()) -> ApiKeyInfo | None:
        key = self.api_keys.get(key_id)
        if key is None:
            return None
        if key.info.revoked_at is None:
            key.info = replace(key.info, revoked_at=self._now())
            self.audited.extend(audit)
        return key.info
