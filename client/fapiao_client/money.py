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


def rate_to_basis_points(rate: str | int | Decimal) -> int:
    """A VAT rate as basis points: ``"13%"`` and ``"0.13"`` (or ``Decimal("0.13")``) are 1300, ``"0"`` is 0.
    A rate is a fraction of 1 or a percentage; one finer than a basis point is refused, as are floats."""
    if isinstance(rate, float):
        raise TypeError("pass a rate as str, int or Decimal, never float")
    text = str(rate).strip()
    percent = text.endswith("%")
    try:
        value = Decimal(text.removesuffix("%").strip())
    except InvalidOperation:
        raise ValueError(f"{rate!r} is not a rate; write it as 13% or 0.13") from None
    points = value * (100 if percent else 10_000)
    if not points.is_finite() or points != points.to_integral_value():
        raise ValueError(f"{rate!r} is not a whole number of basis points (0.01%)")
    if not 0 <= points <= 10_000:
        raise ValueError(f"{rate!r} is not a rate between 0% and 100%; write it as 13% or 0.13")
    return int(points)


def basis_points_to_percent(points: int) -> str:
    """1300 -> '13%', 150 -> '1.5%'."""
    return f"{Decimal(points) / 100:f}%"
