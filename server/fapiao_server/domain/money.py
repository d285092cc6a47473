"""Exact money: integer fen (0.01 yuan) everywhere, decimal yuan strings at the edges, half-up tax."""

from __future__ import annotations

import re

# |amount| below 10^15 fen (10 trillion yuan): far above any invoice, far below int64.
MAX_ABS_FEN = 10**15 - 1
_YUAN = re.compile(r"^(-?)([0-9]{1,13})(?:\.([0-9]{1,2}))?$")


def parse_yuan(text: str) -> int:
    """'64.9' -> 6490, '112' -> 11200, '-3.05' -> -305. No exponents, no more than two decimals."""
    match = _YUAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an amount in yuan with at most two decimals")
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "").ljust(2, "0"))
    return -fen if sign else fen


def format_yuan(fen: int, *, trim: bool = False) -> str:
    """6490 -> '64.90' (or '64.9' with trim, as QR payloads print it); -305 -> '-3.05'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    text = f"{sign}{whole}.{cents:02d}"
    if trim:
        text = text.rstrip("0").rstrip(".")
    return text


def check_fen(fen: int) -> int:
    if not -MAX_ABS_FEN <= fen <= MAX_ABS_FEN:
        raise ValueError(f"must be within ±{MAX_ABS_FEN} fen")
    return fen


def tax_fen(amount_fen: int, rate_basis_points: int) -> int:
    """Tax on an amount at a rate (1300 = 13%), rounded half-up (away from zero) to the fen."""
    whole, remainder = divmod(abs(amount_fen) * rate_basis_points, 10_000)
    if 2 * remainder >= 10_000:
        whole += 1
    return whole if amount_fen >= 0 else -whole
