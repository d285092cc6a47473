"""Yuan <-> fen for callers: the wire carries integer fen, people type yuan."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def yuan_to_fen(yuan: str | int | Decimal) -> int:
    """'64.9' -> 6490. Refuses floats and amounts finer than a fen, so nothing is silently rounded."""
    if isinstance(yuan, float):
        raise TypeError("pass yuan as str, int or Decimal, never float")
    try:
        fen = Decimal(str(yuan).strip()) * 100
    except InvalidOperation:
        raise ValueError(f"{yuan!r} is not an amount in yuan") from None
    if not fen.is_finite() or fen != fen.to_integral_value():
        raise ValueError(f"{yuan!r} is not a whole number of fen")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    """6490 -> '64.90'."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
