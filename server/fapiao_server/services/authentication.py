"""Who is calling: credentials -> principal, fast; and the login session use cases (Login, RefreshToken,
Logout), each of which writes the call's audit event in the transaction that opens, moves or ends the session
(services.audit).

Every worker remembers the credentials it has checked, so a warm call costs a dictionary lookup and no round
trip. It forgets all of them whenever PostgreSQL announces a change to principals, sessions or keys
(``forget``), which is how a revoked or disabled credential stops working on every worker at once."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache

from ..domain.access import Principal, PrincipalAccount
from ..domain.audit import principal_subject
from ..domain.calendar import utc_now
from ..domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, Unauthenticated
from ..security import one_time_codes, tokens
from ..security.passwords import password_matches
from ..security.tokens import ExpiredToken, InvalidToken, TokenSigner
from .audit import audit_of_change, change_audited
from .ports import AccessStore

MISSING = Unauthenticated(
    "this call needs credentials: send 'authorization: Bearer <token or API key>' or use a client certificate",
    reason="CREDENTIALS_MISSING",
)
_LOGIN_FAILED = "username, password or one-time code is wrong"
# Checked credentials are re-checked after this long even without an announcement, in case one was lost while
# the worker's listening connection was down.
RECHECK_SECONDS = 300.0


def _invalid(what: str) -> Unauthenticated:
    return Unauthenticated(f"the {what} is not valid", reason="CREDENTIALS_INVALID")


def _revoked(what: str) -> Unauthenticated:
    return Unauthenticated(f"the {what} has been revoked or its principal disabled", reason="CREDENTIALS_REVOKED")


def _expired(what: str) -> Unauthenticated:
    return Unauthenticated(f"the {what} has expired", reason="TOKEN_EXPIRED")


@dataclass(frozen=True, slots=True)
class SessionTokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


class Authenticator:
    """Maps a call's credentials (a bearer token or API key, or a verified client certificate name) to its
    principal."""

    def __init__(
        self,
        store: AccessStore,
        signer: TokenSigner,
        *,
        clock: Callable[[], datetime] = utc_now,
        remember: int = 100_000,
    ) -> None:
        self._store = store
        self._signer = signer
        self._clock = clock
        # (bearer, certificate name) -> (principal, wall-clock second after which it must be checked again)
        self._known: LRUCache[tuple[str | None, str | None], tuple[Principal, float]] = LRUCache(remember)
        self._generation = 0

    def forget(self) -> None:
        """Drop everything remembered (the announcement of a change to any principal or credential)."""
        self._generation += 1
        self._known.clear()

    async def authenticate(self, bearer: str | None, certificate_name: str | None) -> Principal:
        key = (bearer, certificate_name)
        known = self._known.get(key)
        if known is not None:
            principal, valid_until = known
            if time.time() < valid_until:
                return principal
            del self._known[key]
        generation = self._generation
        principal, valid_until = await self._check(bearer, certificate_name)
        # A change announced while we were looking may have made what we read stale: then do not keep it.
        if generation == self._generation:
            self._known[key] = (principal, min(valid_until, time.time() + RECHECK_SECONDS))
        return principal

    async def _check(self, bearer: str | None, certificate_name: str | None) -> tuple[Principal, float]:
        if bearer is not None:
            if bearer.startswith(tokens.API_KEY_PREFIX):
                return await self._check_api_key(bearer)
            return await self._check_access_token(bearer)
        if certificate_name is not None:
            principal_id = await self._store.principal_for_certificate(certificate_name)
            if principal_id is None:
                raise Unauthenticated(
                    f"no principal has the client certificate name {certificate_name!r}", reason="CERTIFICATE_UNKNOWN"
                )
            return await self._enabled(principal_id, "client certificate"), math.inf
        raise MISSING

    async def _check_api_key(self, key: str) -> tuple[Principal, float]:
        parsed = tokens.parse_api_key(key)
        stored = None if parsed is None else await self._store.api_key_secret(parsed[0])
        if stored is None or not tokens.secrets_match(key, stored.secret_hash):
            raise _invalid("API key")
        if stored.revoked_at is not None:
            raise _revoked("API key")
        now = self._clock()
        if stored.expires_at is not None and stored.expires_at <= now:
            raise _expired("API key")
        principal = await self._enabled(stored.principal_id, "API key")
        return principal, math.inf if stored.expires_at is None else stored.expires_at.timestamp()

    async def _check_access_token(self, token: str) -> tuple[Principal, float]:
        try:
            claims = self._signer.read(token)
        except ExpiredToken:
            raise _expired("access token") from None
        except InvalidToken:
            raise _invalid("access token") from None
        session = await self._store.session_state(claims.session_id)
        if session is None or session.principal_id != claims.principal_id:
            raise _invalid("access token")
        if session.revoked_at is not None:
            raise _revoked("session")
        principal = await self._enabled(claims.principal_id, "session")
        return principal, min(claims.expires_at, session.expires_at).timestamp()

    async def _enabled(self, principal_id: str, what: str) -> Principal:
        account = (await self._store.accounts([principal_id])).get(principal_id)
        if account is None or account.disabled:
            raise _revoked(what)
        return account.principal


class Sessions:
    """Login, refresh and logout; ``changed`` as for Administration. ``throttle(username)`` is awaited before each
    login attempt and raises (QuotaExceeded) past the attempts a username may have: Login needs no credentials, so
    the principals' own rate limits do not protect it."""

    def __init__(
        self,
        store: AccessStore,
        signer: TokenSigner,
        *,
        refresh_lifetime_seconds: float,
        throttle: Callable[[str], Awaitable[None]] | None = None,
        changed: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._throttle = throttle
        self._changed = changed
        self._store = store
        self._signer = signer
        self._refresh_lifetime = refresh_lifetime_seconds
        self._clock = clock

    async def login(self, username: str, password: str, code: str) -> tuple[SessionTokens, PrincipalAccount]:
        problems = [
            FieldViolation(name, f"required, at most {limit} characters")
            for name, value, limit in (("username", username, 64), ("password", password, 1024), ("totp_code", code, 6))
            if not value or len(value) > limit
        ]
        if problems:
            raise InvalidArgument(problems, reason="INVALID_LOGIN")
        failed = Unauthenticated(_LOGIN_FAILED, reason="LOGIN_FAILED")
        if self._throttle is not None:
            await self._throttle(username.lower())
        secret = await self._store.login(username.lower())
        if not await password_matches(None if secret is None else secret.password_hash, password) or secret is None:
            raise failed
        step = one_time_codes.accepted_step(
            secret.totp_secret, code, now=self._clock(), last_step=secret.totp_last_step
        )
        if step is None or not await self._store.accept_totp_step(secret.principal_id, step):
            raise failed
        account = (await self._store.accounts([secret.principal_id])).get(secret.principal_id)
        if account is None or account.disabled:
            raise failed
        session_id = uuid.uuid4()
        refresh = tokens.new_refresh_token(session_id)
        now = self._clock()
        refresh_expires = datetime.fromtimestamp(now.timestamp() + self._refresh_lifetime, now.tzinfo)
        # Named by the principal that logged in, as the answer names it (the request names only the username).
        audit = audit_of_change(now, principal_subject(secret.principal_id))
        await self._store.create_session(
            session_id, secret.principal_id, tokens.secret_hash(refresh), refresh_expires, audit=audit
        )
        change_audited()
        access, access_expires = self._signer.issue(secret.principal_id, session_id, now=now)
        return SessionTokens(access, min(access_expires, refresh_expires), refresh, refresh_expires), account

    async def refresh(self, refresh_token: str) -> SessionTokens:
        session_id = tokens.parse_refresh_token(refresh_token)
        if session_id is None:
            raise _invalid("refresh token")
        renewed = tokens.new_refresh_token(session_id)
        session = await self._store.rotate_refresh_token(
            session_id, tokens.secret_hash(refresh_token), tokens.secret_hash(renewed),
            audit=audit_of_change(self._clock()),
        )  # fmt: skip
        if session is None:
            state = await self._store.session_state(session_id)
            if state is not None and state.revoked_at is None and state.expires_at > self._clock():
                # A refresh token that was good once but is not the current one: it was copied, and either the
                # thief or the owner used it first. End the session for both (OAuth 2.0 BCP, section 4.14). The
                # call is refused, so its event is the transport's to record, not this transaction's.
                await self._store.revoke_session(session_id)
                self._changed()
                raise _revoked("refresh token")
            raise _invalid("refresh token")
        change_audited()
        access, access_expires = self._signer.issue(session.principal_id, session_id, now=self._clock())
        return SessionTokens(access, min(access_expires, session.expires_at), renewed, session.expires_at)

    async def logout(self, bearer: str | None) -> None:
        """End the session of the access token ``bearer``."""
        try:
            claims = self._signer.read(bearer or "")
        except InvalidToken:
            raise FailedPrecondition(
                "only a login session can be logged out; revoke an API key with AdminService.RevokeApiKey",
                reason="NOT_A_SESSION",
            ) from None
        await self._store.revoke_session(claims.session_id, audit=audit_of_change(self._clock()))
        change_audited()
        self._changed()
