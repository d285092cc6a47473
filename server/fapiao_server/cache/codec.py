"""How invoices are stored in the cache: msgpack via msgspec (a few microseconds either way)."""

from __future__ import annotations

import msgspec

from ..domain.invoice import Invoice

# A cached "no such invoice" (negative entry); never a valid msgpack encoding of an Invoice.
ABSENT = b"-"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Invoice)


def encode(invoice: Invoice | None) -> bytes:
    return ABSENT if invoice is None else _encoder.encode(invoice)


class CorruptEntry(ValueError):
    """A cached value this version cannot read (e.g. written by an incompatible version); treat as a miss."""


def decode(value: bytes) -> Invoice | None:
    """The cached invoice, or None for a negative entry."""
    if value == ABSENT:
        return None
    try:
        return _decoder.decode(value)
    except msgspec.MsgspecError as error:
        raise CorruptEntry(str(error)) from error
