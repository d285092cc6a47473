"""Who is calling, and login sessions (services/authentication.py), against an in-memory access store: API keys,
access tokens, client certificates and their refusals; remembered principals forgotten on announcement; login with
password and one-time code (each step once); refresh-token rotation, and the end of a session whose old refresh
token comes back (a copied token); logout."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pyotp
import pytest

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.domain.calendar import utc_now
from fapiao_server.domain.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from fapiao_server.security import one_time_codes, tokens
from fapiao_server.security.passwords import hash_password
from fapiao_server.security.tokens import TokenSigner
from fapiao_server.services.authentication import Authenticator, Sessions
from tests.support.fakes import InMemoryAccess

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
VERIFIER = Principal("verifier-1", Role.VERIFIER)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Access:
    """An Authenticator and Sessions over one in-memory store, on a clock the test moves (starting at the real now:
    access tokens are JWTs whose expiry the library checks against the wall clock)."""

    def __init__(self) -> None:
        self.now = utc_now()
        self.store = InMemoryAccess(lambda: self.now)
        self.signer = TokenSigner(secrets.token_bytes(32), lifetime=timedelta(minutes=15))
        self.announced = 0
        self.authenticator = Authenticator(self.store, self.signer, clock=lambda: self.now)
        self.sessions = Sessions(
            self.store, self.signer, refresh_lifetime_seconds=12 * 3600, changed=self.announce, clock=lambda: self.now
        )
        self.totp_secret = one_time_codes.new_secret()
        run(self.store.create_principal(PrincipalAccount(VERIFIER, certificate_name="gov-system-1")))

    def announce(self) -> None:
        """What PostgreSQL's announcement does on every worker."""
        self.announced += 1
        self.authenticator.forget()

    def give_login(self, username: str = "alice") -> None:
        run(self.store.set_login(VERIFIER.id, username, run(hash_password(PASSWORD)), self.totp_secret))

    def code(self, at: datetime | None = None) -> str:
        return pyotp.TOTP(self.totp_secret).at(at or self.now)

    def api_key(self, *, expires_at: datetime | None = None) -> str:
        key_id, key = tokens.new_api_key()
        run(self.store.create_api_key(key_id, VERIFIER.id, tokens.secret_hash(key), "test", expires_at))
        return key

    def who(self, bearer: str | None = None, certificate: str | None = None) -> Principal:
        return run(self.authenticator.authenticate(bearer, certificate))

    def refused(self, bearer: str | None = None, certificate: str | None = None) -> str:
        with pytest.raises(Unauthenticated) as refused:
            self.who(bearer, certificate)
        return refused.value.reason


def test_an_api_key_names_its_principal_until_it_is_revoked_or_expires() -> None:
    access = Access()
    key = access.api_key()
    assert access.who(key) == VERIFIER
    parsed = tokens.parse_api_key(key)
    assert parsed is not None
    run(access.store.revoke_api_key(parsed[0]))
    assert access.who(key) == VERIFIER  # remembered until the change is announced
    access.announce()
    assert access.refused(key) == "CREDENTIALS_REVOKED"
    soon = access.api_key(expires_at=access.now + timedelta(hours=1))
    assert access.who(soon) == VERIFIER
    access.now += timedelta(hours=1)
    access.announce()
    assert access.refused(soon) == "TOKEN_EXPIRED"


def test_a_forged_or_malformed_key_is_invalid_and_none_is_missing() -> None:
    access = Access()
    real = access.api_key()
    forged = real[: -len("x")] + ("A" if real[-1] != "A" else "B")  # same id, another secret
    assert access.refused(forged) == "CREDENTIALS_INVALID"
    assert access.refused("fpk_not-a-key") == "CREDENTIALS_INVALID"
    assert access.refused("not.a.jwt") == "CREDENTIALS_INVALID"
    assert access.refused() == "CREDENTIALS_MISSING"


def test_a_disabled_principal_s_credentials_stop_working_once_announced() -> None:
    access = Access()
    key = access.api_key()
    assert access.who(key) == VERIFIER
    run(access.store.update_principal(PrincipalAccount(VERIFIER, disabled=True, certificate_name="gov-system-1")))
    access.announce()
    assert access.refused(key) == "CREDENTIALS_REVOKED"
    assert access.refused(certificate="gov-system-1") == "CREDENTIALS_REVOKED"


def test_a_client_certificate_names_the_principal_it_was_given_to() -> None:
    access = Access()
    assert access.who(certificate="gov-system-1") == VERIFIER
    assert access.refused(certificate="gov-system-2") == "CERTIFICATE_UNKNOWN"


def test_a_bearer_wins_over_the_certificate() -> None:
    access = Access()
    other = Principal("verifier-2", Role.VERIFIER)
    run(access.store.create_principal(PrincipalAccount(other)))
    key_id, key = tokens.new_api_key()
    run(access.store.create_api_key(key_id, other.id, tokens.secret_hash(key), "test", None))
    assert access.who(key, "gov-system-1") == other


def test_login_needs_the_password_and_a_code_each_step_of_which_works_once() -> None:
    access = Access()
    access.give_login()
    session, account = run(access.sessions.login("Alice", PASSWORD, access.code()))  # usernames are case-blind
    assert account.principal == VERIFIER
    assert access.who(session.access_token) == VERIFIER
    assert session.refresh_expires_at == access.now + timedelta(hours=12)
    assert session.access_expires_at == access.now + timedelta(minutes=15)
    with pytest.raises(Unauthenticated) as replayed:  # the same code again: its step is used
        run(access.sessions.login("alice", PASSWORD, access.code()))
    assert replayed.value.reason == "LOGIN_FAILED"
    access.now += timedelta(seconds=30)
    run(access.sessions.login("alice", PASSWORD, access.code()))  # the next step's code is fine


@pytest.mark.parametrize("wrong", ["password", "code", "username"])
def test_every_wrong_login_fails_alike(wrong: str) -> None:
    access = Access()
    access.give_login()
    username = "bob" if wrong == "username" else "alice"
    password = "guess" if wrong == "password" else PASSWORD
    code = "000000" if wrong == "code" and access.code() != "000000" else access.code()
    with pytest.raises(Unauthenticated) as refused:
        run(access.sessions.login(username, password, code))
    assert (refused.value.reason, refused.value.message) == (
        "LOGIN_FAILED",
        "username, password or one-time code is wrong",
    )
    assert access.store.sessions == {}


def test_a_disabled_principal_cannot_log_in() -> None:
    access = Access()
    access.give_login()
    run(access.store.update_principal(PrincipalAccount(VERIFIER, disabled=True)))
    with pytest.raises(Unauthenticated) as refused:
        run(access.sessions.login("alice", PASSWORD, access.code()))
    assert refused.value.reason == "LOGIN_FAILED"


def test_login_fields_are_checked_before_anything_is_looked_up() -> None:
    access = Access()
    with pytest.raises(InvalidArgument) as refused:
        run(access.sessions.login("", "x" * 1025, "1234567"))
    assert refused.value.reason == "INVALID_LOGIN"
    assert [violation.field for violation in refused.value.violations] == ["username", "password", "totp_code"]


def test_login_is_throttled_by_username_before_the_password_is_checked() -> None:
    access = Access()
    asked: list[str] = []

    async def throttle(username: str) -> None:
        asked.append(username)
        raise Unauthenticated("slow down", reason="THROTTLED")

    sessions = Sessions(access.store, access.signer, refresh_lifetime_seconds=60, throttle=throttle)
    with pytest.raises(Unauthenticated):
        run(sessions.login("ALICE", PASSWORD, "123456"))
    assert asked == ["alice"]


def test_a_refresh_token_works_once_and_its_reuse_ends_the_session() -> None:
    access = Access()
    access.give_login()
    first, _ = run(access.sessions.login("alice", PASSWORD, access.code()))
    second = run(access.sessions.refresh(first.refresh_token))
    assert second.refresh_token != first.refresh_token and access.who(second.access_token) == VERIFIER
    assert second.refresh_expires_at == first.refresh_expires_at  # the session does not grow longer
    # The first token again: it was copied. The session ends for whoever holds either token.
    with pytest.raises(Unauthenticated) as reused:
        run(access.sessions.refresh(first.refresh_token))
    assert reused.value.reason == "CREDENTIALS_REVOKED" and access.announced == 1
    assert access.refused(second.access_token) == "CREDENTIALS_REVOKED"
    with pytest.raises(Unauthenticated) as after:
        run(access.sessions.refresh(second.refresh_token))
    assert after.value.reason == "CREDENTIALS_INVALID"


def test_an_unknown_or_expired_session_s_refresh_token_is_just_invalid() -> None:
    access = Access()
    with pytest.raises(Unauthenticated) as unknown:
        run(access.sessions.refresh(tokens.new_refresh_token(uuid.uuid4())))
    assert unknown.value.reason == "CREDENTIALS_INVALID"
    with pytest.raises(Unauthenticated) as malformed:
        run(access.sessions.refresh("fpr_nonsense"))
    assert malformed.value.reason == "CREDENTIALS_INVALID"
    access.give_login()
    session, _ = run(access.sessions.login("alice", PASSWORD, access.code()))
    access.now += timedelta(hours=12)
    with pytest.raises(Unauthenticated) as expired:
        run(access.sessions.refresh(session.refresh_token))
    assert expired.value.reason == "CREDENTIALS_INVALID"
    assert access.announced == 0  # an expired session is not a theft: nothing to end


def test_logout_ends_the_session_and_is_only_for_sessions() -> None:
    access = Access()
    access.give_login()
    session, _ = run(access.sessions.login("alice", PASSWORD, access.code()))
    run(access.sessions.logout(session.access_token))
    assert access.announced == 1
    assert access.refused(session.access_token) == "CREDENTIALS_REVOKED"
    with pytest.raises(FailedPrecondition) as refused:
        run(access.sessions.logout(access.api_key()))
    assert refused.value.reason == "NOT_A_SESSION"


def test_a_new_login_ends_the_principal_s_sessions() -> None:
    access = Access()
    access.give_login()
    session, _ = run(access.sessions.login("alice", PASSWORD, access.code()))
    access.give_login("alice2")
    access.announce()
    assert access.refused(session.access_token) == "CREDENTIALS_REVOKED"
