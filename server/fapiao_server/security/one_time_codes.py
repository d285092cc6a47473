"""TOTP (RFC 6238) second factor with pyotp: 6 digits, 30-second steps, one step of clock drift either way,
and each step accepted at most once per login."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

ISSUER = "Fapiao"
_DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app enrols from (usually shown as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int) -> int | None:
    """The time step ``code`` belongs to, if it is right for now (give or take a step) and later than the last
    step accepted; None otherwise. The caller stores the step so the same code cannot be replayed."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - _DRIFT_STEPS, current + _DRIFT_STEPS + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
