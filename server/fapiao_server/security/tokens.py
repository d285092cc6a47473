"""Access tokens (JWT, HS256 with the fleet's token key), refresh tokens and API keys.

An access token names its principal and its session; it is checked by signature and expiry without a
database round trip, and its session against the worker's revocation knowledge (see services.authentication).
Refresh tokens and API keys are opaque random secrets; only their SHA-256 is stored (they carry 256 random
bits, so a slow hash would add cost on every call and no safety)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "fapiao"
_ALGORITHM = "HS256"
API_KEY_PREFIX = "fpk_"
_API_KEY = re.compile(r"^fpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_REFRESH = re.compile(r"^fpr_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secrets_match(secret: str, stored_hash: bytes) -> bool:
    return secrets.compare_digest(secret_hash(secret), stored_hash)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    principal_id: str
    session_id: uuid.UUID
    expires_at: datetime


class InvalidToken(Exception):
    """Not a token this fleet signed, or a malformed one."""


class ExpiredToken(InvalidToken):
    pass


class TokenSigner:
    """Signs and checks access tokens with the key every worker of the fleet shares."""

    def __init__(self, key: bytes, *, lifetime: timedelta) -> None:
        if len(key) < 32:
            raise ValueError("the token key must have at least 256 bits")
        self._key = key
        self.lifetime = lifetime

    def issue(self, principal_id: str, session_id: uuid.UUID, *, now: datetime) -> tuple[str, datetime]:
        expires = now + self.lifetime
        claims = {"iss": ISSUER, "sub": principal_id, "sid": str(session_id), "iat": now, "exp": expires}
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires

    def read(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "sid", "iss"]},
            )
            return AccessClaims(claims["sub"], uuid.UUID(claims["sid"]), datetime.fromtimestamp(claims["exp"], UTC))
        except jwt.ExpiredSignatureError as error:
            raise ExpiredToken("the access token has expired") from error
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as error:
            raise InvalidToken("not a valid access token") from error


def new_api_key() -> tuple[str, str]:
    """A new API key: (its public id, the whole key to hand out once)."""
    key_id = secrets.token_hex(8)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def parse_api_key(key: str) -> tuple[str, str] | None:
    """(id, whole key) of a well-formed API key, else None."""
    match = _API_KEY.fullmatch(key)
    return (match.group(1), key) if match else None


def new_refresh_token(session_id: uuid.UUID) -> str:
    return f"fpr_{session_id.hex}_{secrets.token_urlsafe(32)}"


def parse_refresh_token(token: str) -> uuid.UUID | None:
    """The session a well-formed refresh token belongs to, else None."""
    match = _REFRESH.fullmatch(token)
    return uuid.UUID(match.group(1)) if match else None
