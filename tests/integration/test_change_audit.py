"""The audit event of each administration, session and tax period change is in audit_outbox as soon as the
change has committed, with no AuditLog anywhere to queue it: it was written in the change's own transaction (as
the transport hands it over, services.audit.CALL_AUDIT), so a worker killed right after the commit cannot lose
it. A call refused before it changes anything writes nothing, and is left to the transport's queue."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pyotp
import pytest
from psycopg_pool import AsyncConnectionPool

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.domain.audit import AuditEvent, AuditOutcome
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.errors import NotFound
from fapiao_server.security.tokens import TokenSigner
from fapiao_server.services.administration import Administration
from fapiao_server.services.audit import CALL_AUDIT, CallAudit
from fapiao_server.services.authentication import Sessions
from fapiao_server.services.lifecycle import LifecycleService
from fapiao_server.storage.access import PostgresAccess
from fapiao_server.storage.issuing import PostgresIssuer
from fapiao_server.storage.lifecycle import PostgresLifecycle
from fapiao_server.storage.migrations import migrate
from tests.support import fleet
from tests.support.keys import new_keyring
from tests.support.services import fresh_database

ADMIN, AUTH = "/fapiao.v1.AdminService/", "/fapiao.v1.AuthService/"
PASSWORD = "correct horse battery staple"
ADMINISTRATOR = Principal("change-audit-admin", Role.ADMIN)


@pytest.fixture(scope="module")
def own_url(pg_admin_url: str) -> Iterator[str]:
    """A database of this module's own: no server runs on it, so nothing but these tests touches its outbox."""
    with fresh_database(pg_admin_url, "change_audit") as url:
        migrate(url, today=business_date(utc_now()))
        yield url


class Desk:
    """The use cases a worker runs for AdminService, AuthService and ReportTaxPeriod, on a pool of their own."""

    def __init__(self, pool: AsyncConnectionPool, url: str) -> None:
        keyring = new_keyring(url)
        access = PostgresAccess(pool, keyring)
        self.admin = Administration(access)
        signer = TokenSigner(os.urandom(32), lifetime=timedelta(minutes=15))
        self.sessions = Sessions(access, signer, refresh_lifetime_seconds=3600)
        self.lifecycle = LifecycleService(PostgresLifecycle(pool, keyring), PostgresIssuer(pool, keyring))
        self.signer = signer


@pytest.fixture(scope="module")
async def desk(own_url: str) -> AsyncIterator[Desk]:
    async with AsyncConnectionPool(own_url, min_size=1, max_size=4, kwargs={"autocommit": True}) as pool:
        yield Desk(pool, own_url)


@contextlib.contextmanager
def audited(method: str, actor: Principal | None = ADMINISTRATOR, subject: str = "") -> Iterator[CallAudit]:
    """What transport.audit_trail does around an audited call: its event (no subject beyond what the request
    names) handed to the use case."""
    call = CallAudit(
        AuditEvent(
            time=utc_now(),
            actor=actor.id if actor else "anonymous",
            actor_role=actor.role.value if actor else "",
            action=method,
            outcome=AuditOutcome.OK,
            subject=subject,
            details={"request_id": str(uuid.uuid4())},
        )
    )
    token = CALL_AUDIT.set(call)
    try:
        yield call
    finally:
        CALL_AUDIT.reset(token)


def outbox(url: str) -> list[tuple[str, str, str, str]]:
    """(actor, action, subject, outcome) of every event waiting in the outbox, oldest first."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT actor, action, subject, outcome FROM audit_outbox ORDER BY id").fetchall()


async def written(url: str, method: str, change: Callable[[], Awaitable[Any]], *, subject: str = "",
                  actor: Principal | None = ADMINISTRATOR) -> tuple[str, str, str, str]:  # fmt: skip
    """Run ``change`` as an audited call of ``method``; the one event it left in the outbox."""
    before = len(outbox(url))
    with audited(method, actor, subject) as call:
        await change()
    assert call.written, f"{method} did not write its audit event with its change"
    added = outbox(url)[before:]
    assert len(added) == 1, added
    return added[0]


async def test_every_administration_change_writes_its_event_with_it(desk: Desk, own_url: str) -> None:
    newcomer = f"newcomer-{uuid.uuid4().hex[:8]}"
    me = ADMINISTRATOR.id
    account = PrincipalAccount(Principal(newcomer, Role.VERIFIER))
    created = await written(own_url, ADMIN + "CreatePrincipal", lambda: desk.admin.create(account))
    assert created == (me, ADMIN + "CreatePrincipal", f"principals/{newcomer}", "OK")
    renamed = PrincipalAccount(Principal(newcomer, Role.VERIFIER, display_name="renamed"))
    updated = await written(
        own_url, ADMIN + "UpdatePrincipal", lambda: desk.admin.update(renamed, {"display_name"}),
        subject=f"principals/{newcomer}",
    )  # fmt: skip
    assert updated == (me, ADMIN + "UpdatePrincipal", f"principals/{newcomer}", "OK")
    login = await written(
        own_url, ADMIN + "SetLogin", lambda: desk.admin.set_login(newcomer, newcomer, PASSWORD),
        subject=f"principals/{newcomer}",
    )  # fmt: skip
    assert login == (me, ADMIN + "SetLogin", f"principals/{newcomer}", "OK")

    keys: list[Any] = []

    async def create_key() -> None:
        keys.append((await desk.admin.create_api_key(newcomer, "for the ERP", None))[0])

    made = await written(own_url, ADMIN + "CreateApiKey", create_key, subject=f"principals/{newcomer}")
    assert made == (me, ADMIN + "CreateApiKey", f"principals/{newcomer}", "OK")
    key_subject = f"api-keys/{keys[0].id}"
    revoked = await written(
        own_url, ADMIN + "RevokeApiKey", lambda: desk.admin.revoke_api_key(keys[0].id), subject=key_subject
    )
    assert revoked == (me, ADMIN + "RevokeApiKey", key_subject, "OK")
    sessions = await written(
        own_url, ADMIN + "RevokeSessions", lambda: desk.admin.revoke_sessions(newcomer),
        subject=f"principals/{newcomer}",
    )  # fmt: skip
    assert sessions == (me, ADMIN + "RevokeSessions", f"principals/{newcomer}", "OK")


async def test_logins_refreshes_and_logouts_write_their_events_with_the_session(desk: Desk, own_url: str) -> None:
    person = f"person-{uuid.uuid4().hex[:8]}"
    await desk.admin.create(PrincipalAccount(Principal(person, Role.VERIFIER)))
    secret, _ = await desk.admin.set_login(person, person, PASSWORD)
    opened: list[Any] = []

    async def login() -> None:
        opened.append((await desk.sessions.login(person, PASSWORD, pyotp.TOTP(secret).now()))[0])

    # The request names the username; the event names the principal that logged in, as its answer does.
    logged_in = await written(own_url, AUTH + "Login", login, actor=None, subject=f"users/{person}")
    assert logged_in == ("anonymous", AUTH + "Login", f"principals/{person}", "OK")

    async def refresh() -> None:
        opened.append(await desk.sessions.refresh(opened[0].refresh_token))

    assert await written(own_url, AUTH + "RefreshToken", refresh, actor=None) == (
        "anonymous", AUTH + "RefreshToken", "", "OK",
    )  # fmt: skip
    caller = Principal(person, Role.VERIFIER)
    logout = await written(own_url, AUTH + "Logout", lambda: desk.sessions.logout(opened[1].access_token), actor=caller)
    assert logout == (person, AUTH + "Logout", "", "OK")


async def test_a_tax_period_report_writes_its_event_with_the_report(desk: Desk, own_url: str) -> None:
    tax_id = fleet.new_tax_id()
    reporter = Principal("change-audit-reporter", Role.TAXPAYER, frozenset({tax_id}))
    today = business_date(utc_now())
    subject = f"tax-periods/{tax_id}/{today:%Y-%m}"
    method = "/fapiao.v1.InvoiceService/ReportTaxPeriod"
    for _ in range(2):  # the second report answers with the first one's time, and is recorded as the first was
        event = await written(
            own_url, method, lambda: desk.lifecycle.report_period(tax_id, today.year, today.month, actor=reporter),
            actor=reporter, subject=subject,
        )  # fmt: skip
        assert event == (reporter.id, method, subject, "OK")


async def test_a_refused_change_writes_nothing_and_leaves_its_event_to_the_transport(desk: Desk, own_url: str) -> None:
    before = outbox(own_url)
    with audited(ADMIN + "RevokeApiKey", subject="api-keys/k000000000000000") as call, pytest.raises(NotFound):
        await desk.admin.revoke_api_key("k000000000000000")
    assert not call.written
    ghost = PrincipalAccount(Principal("nobody-at-all", Role.VERIFIER, display_name="x"))
    with audited(ADMIN + "UpdatePrincipal", subject="principals/nobody-at-all") as call, pytest.raises(NotFound):
        await desk.admin.update(ghost, {"display_name"})
    assert not call.written
    assert outbox(own_url) == before
