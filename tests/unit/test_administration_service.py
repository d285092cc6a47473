"""Administration of principals, logins and API keys (services/administration.py) against an in-memory access
store: what each change checks and refuses, that it is announced, that disabling ends sessions, and that inside an
audited call the change's own transaction writes the call's event with what it acted on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.domain.audit import AuditEvent, AuditOutcome
from fapiao_server.domain.errors import AlreadyExists, InvalidArgument, NotFound
from fapiao_server.services.administration import Administration
from fapiao_server.services.audit import CALL_AUDIT, CallAudit
from tests.support.fakes import InMemoryAccess

T = TypeVar("T")
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SELLER = "91110108551385082Q"
TAXPAYER = Principal("erp-1", Role.TAXPAYER, tax_ids=frozenset({SELLER}), display_name="ERP")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Admin:
    def __init__(self) -> None:
        self.store = InMemoryAccess(lambda: NOW)
        self.announced = 0
        self.admin = Administration(self.store, changed=self.announce, clock=lambda: NOW)

    def announce(self) -> None:
        self.announced += 1


def test_a_principal_is_created_checked_enabled_and_without_a_login() -> None:
    admin = Admin()
    made = run(admin.admin.create(PrincipalAccount(TAXPAYER, disabled=True, username="sneaky")))
    assert made.principal == TAXPAYER and not made.disabled and made.username is None
    assert made.created_at == NOW
    with pytest.raises(AlreadyExists):
        run(admin.admin.create(PrincipalAccount(TAXPAYER)))


def test_a_principal_that_cannot_be_is_refused_field_by_field() -> None:
    admin = Admin()
    wrong = Principal("1-starts-with-a-digit", Role.TAXPAYER)  # and a taxpayer needs a tax id
    with pytest.raises(InvalidArgument) as refused:
        run(admin.admin.create(PrincipalAccount(wrong)))
    fields = [violation.field for violation in refused.value.violations]
    assert "principal.id" in fields and "principal.tax_ids" in fields
    assert admin.store.principals == {}


def test_an_update_changes_only_what_its_mask_names() -> None:
    admin = Admin()
    run(admin.admin.create(PrincipalAccount(TAXPAYER)))
    changed = PrincipalAccount(Principal(TAXPAYER.id, Role.VERIFIER, display_name="renamed", rate_limit=5.0))
    updated = run(admin.admin.update(changed, {"display_name", "rate_limit"}))
    assert updated.principal.role is Role.TAXPAYER and updated.principal.tax_ids == TAXPAYER.tax_ids
    assert (updated.principal.display_name, updated.principal.rate_limit) == ("renamed", 5.0)
    assert admin.announced == 1


@pytest.mark.parametrize("mask", [set(), {"username"}, {"display_name", "password"}])
def test_an_update_mask_outside_the_updatable_fields_is_refused(mask: set[str]) -> None:
    admin = Admin()
    run(admin.admin.create(PrincipalAccount(TAXPAYER)))
    with pytest.raises(InvalidArgument) as refused:
        run(admin.admin.update(PrincipalAccount(TAXPAYER), mask))
    assert refused.value.reason == "INVALID_UPDATE_MASK"
    assert admin.announced == 0


def test_disabling_a_principal_ends_its_sessions() -> None:
    admin = Admin()
    run(admin.admin.create(PrincipalAccount(TAXPAYER)))
    session = uuid.uuid4()
    run(admin.store.create_session(session, TAXPAYER.id, b"hash", NOW + timedelta(hours=1)))
    run(admin.admin.update(PrincipalAccount(TAXPAYER, disabled=True), {"disabled"}))
    assert admin.store.sessions[session].revoked_at == NOW


def test_what_is_not_there_is_not_found() -> None:
    admin = Admin()
    for call, reason in (
        (admin.admin.get("nobody"), "PRINCIPAL_NOT_FOUND"),
        (admin.admin.update(PrincipalAccount(TAXPAYER), {"display_name"}), "PRINCIPAL_NOT_FOUND"),
        (admin.admin.set_login("nobody", "alice", "a long enough password"), "PRINCIPAL_NOT_FOUND"),
        (admin.admin.create_api_key("nobody", "", None), "PRINCIPAL_NOT_FOUND"),
        (admin.admin.revoke_api_key("0123456789abcdef"), "API_KEY_NOT_FOUND"),
        (admin.admin.revoke_sessions("nobody"), "PRINCIPAL_NOT_FOUND"),
    ):
        with pytest.raises(NotFound) as missing:
            run(call)
        assert missing.value.reason == reason


def test_a_login_needs_a_plain_username_and_a_long_password_and_comes_with_a_totp_secret() -> None:
    admin = Admin()
    run(admin.admin.create(PrincipalAccount(TAXPAYER)))
    with pytest.raises(InvalidArgument) as refused:
        run(admin.admin.set_login(TAXPAYER.id, "No Spaces!", "short"))
    assert refused.value.reason == "INVALID_LOGIN"
    assert [violation.field for violation in refused.value.violations] == ["username", "password"]
    secret, uri = run(admin.admin.set_login(TAXPAYER.id, "alice", "a long enough password"))
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert admin.store.logins[TAXPAYER.id].username == "alice"
    assert admin.store.logins[TAXPAYER.id].password_hash.startswith("$argon2id$")  # never the password itself


def test_an_api_key_is_shown_once_stored_as_a_hash_and_revoked_for_good() -> None:
    admin = Admin()
    run(admin.admin.create(PrincipalAccount(TAXPAYER)))
    with pytest.raises(InvalidArgument) as refused:
        run(admin.admin.create_api_key(TAXPAYER.id, "x" * 201, NOW))
    assert [violation.field for violation in refused.value.violations] == ["description", "expire_time"]
    info, secret = run(admin.admin.create_api_key(TAXPAYER.id, "ERP nightly", None))
    assert secret.startswith(f"fpk_{info.id}_")
    stored = admin.store.api_keys[info.id]
    assert secret.encode() not in stored.secret_hash and len(stored.secret_hash) == 32
    assert [key.id for key in run(admin.admin.api_keys(TAXPAYER.id))] == [info.id]
    revoked = run(admin.admin.revoke_api_key(info.id))
    assert revoked.revoked_at == NOW and admin.announced == 1


def test_listing_pages_by_id_within_a_role() -> None:
    admin = Admin()
    for number in range(5):
        run(admin.admin.create(PrincipalAccount(Principal(f"verifier-{number}", Role.VERIFIER))))
    run(admin.admin.create(PrincipalAccount(TAXPAYER)))
    first = run(admin.admin.list(Role.VERIFIER, page_size=3, page_token=""))
    rest = run(admin.admin.list(Role.VERIFIER, page_size=3, page_token=first.next_page_token))
    assert [a.principal.id for a in first.items + rest.items] == [f"verifier-{n}" for n in range(5)]
    assert rest.next_page_token == ""
    with pytest.raises(InvalidArgument):  # a token belongs to the listing that issued it
        run(admin.admin.list(Role.TAXPAYER, page_size=3, page_token=first.next_page_token))


def test_inside_an_audited_call_the_change_writes_the_call_s_event_naming_what_it_acted_on() -> None:
    admin = Admin()
    event = AuditEvent(NOW - timedelta(seconds=1), "admin", "/fapiao.v1.AdminService/CreatePrincipal", AuditOutcome.OK)
    call = CallAudit(event)

    async def audited() -> None:
        CALL_AUDIT.set(call)
        await admin.admin.create(PrincipalAccount(TAXPAYER))

    run(audited())
    (written,) = admin.store.audited
    assert (written.actor, written.action, written.subject, written.time) == (
        "admin", event.action, f"principals/{TAXPAYER.id}", NOW
    )  # fmt: skip
    assert call.written  # so the transport records nothing more

    # A change that is refused writes nothing, and leaves the event to the transport.
    refused_call = CallAudit(event)

    async def refused() -> None:
        CALL_AUDIT.set(refused_call)
        await admin.admin.create(PrincipalAccount(TAXPAYER))

    with pytest.raises(AlreadyExists):
        run(refused())
    assert len(admin.store.audited) == 1 and not refused_call.written
