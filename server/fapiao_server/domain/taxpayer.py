"""Taxpayer ids: the 18-character unified social credit code (GB 32100-2015) and older ids."""

from __future__ import annotations

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUES = {c: i for i, c in enumerate(USCC_ALPHABET)}
_LEGACY_ALPHABET = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_tax_id(tax_id: str) -> str:
    """Validate a taxpayer id and return it upper-cased.

    18 characters: a unified social credit code with a correct check character. 15 or 20 characters: an
    older taxpayer id (still printed on old invoices), checked for its alphabet only.
    """
    if not tax_id.isascii():
        raise ValueError("has characters other than ASCII letters and digits")
    value = tax_id.upper()
    if len(value) == 18:
        bad = sorted({c for c in value if c not in _VALUES})
        if bad:
            raise ValueError(f"contains characters not allowed in a unified social credit code: {''.join(bad)}")
        if uscc_check_character(value[:17]) != value[17]:
            raise ValueError("check character does not match (not a valid unified social credit code)")
        return value
    if len(value) in (15, 20):
        if not set(value) <= _LEGACY_ALPHABET:
            raise ValueError("an older taxpayer id has only digits and capital letters")
        return value
    raise ValueError("must be an 18-character unified social credit code (or an older 15- or 20-character id)")
