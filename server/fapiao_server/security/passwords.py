"""Password hashes: argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Compared against when a username is unknown, so that a wrong username costs as long as a wrong password and
# answer times do not tell which usernames exist.
_DECOY = _HASHER.hash("fapiao decoy password, never a real one")
MIN_LENGTH = 12


async def hash_password(password: str) -> str:
    # argon2 spends ~50 ms of CPU on purpose; off the event loop so other calls keep flowing meanwhile.
    return await asyncio.to_thread(_HASHER.hash, password)


async def password_matches(encoded: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash; ``None`` (no such user) is checked against a decoy."""

    def check() -> bool:
        try:
            return _HASHER.verify(encoded or _DECOY, password) and encoded is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
