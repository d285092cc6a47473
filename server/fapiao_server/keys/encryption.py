"""Envelope encryption of personal and commercial details at rest (AES-GCM, `cryptography`).

A master key (from configuration, never stored in PostgreSQL) wraps data keys; data keys (stored wrapped in
``data_keys``) seal column values. A sealed value is ``version | key id | nonce | ciphertext+tag``; its associated
data names the table, column and row, so a value copied into another row or column fails to open. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per value (2^32 values per key keeps collisions negligible)
SEALED = 1  # version byte of a value sealed by a data key
# Version byte of a value the 0006 and 0010 migrations carried over from the plaintext columns; opened as is, and
# moved onto a data key by `fapiao keys rotate`.
CARRIED_OVER = 0
_HEADER = struct.Struct(">BI")  # version, data key id

# The invoices columns sealed at rest: who the parties are and how to reach or pay them, and the people who
# issued, collected and reviewed the invoice. Amounts, dates, identifiers and tax ids stay clear (lookups,
# listings, reports and indexes use them).
SEALED_INVOICE_COLUMNS = (
    "seller_name", "seller_address", "seller_phone", "seller_bank_name", "seller_bank_account",
    "buyer_name", "buyer_address", "buyer_phone", "buyer_bank_name", "buyer_bank_account",
    "issuer_name", "payee_name", "reviewer_name",
)  # fmt: skip


class _Parties(Protocol):
    """What an invoice (or a generated one) says about the people on it."""

    @property
    def seller(self) -> Any: ...
    @property
    def buyer(self) -> Any: ...
    @property
    def issuer_name(self) -> str: ...
    @property
    def payee_name(self) -> str: ...
    @property
    def reviewer_name(self) -> str: ...


def personal_details(invoice: _Parties) -> dict[str, str]:
    """An invoice's values of ``SEALED_INVOICE_COLUMNS``, by column."""
    values = {"issuer_name": invoice.issuer_name, "payee_name": invoice.payee_name}
    values["reviewer_name"] = invoice.reviewer_name
    for prefix, party in (("seller", invoice.seller), ("buyer", invoice.buyer)):
        values |= {
            f"{prefix}_name": party.name,
            f"{prefix}_address": party.address,
            f"{prefix}_phone": party.phone,
            f"{prefix}_bank_name": party.bank_name,
            f"{prefix}_bank_account": party.bank_account,
        }
    return values


class MasterKeyMismatch(RuntimeError):
    """The configured master key cannot unwrap a stored data key: this worker must not start."""


class UndecryptableValue(RuntimeError):
    """A stored value does not open under its key for its row and column (moved, altered, or a key is missing)."""


def master_fingerprint(secret: bytes) -> str:
    """A short public name for a master key, stored beside what it wraps so a mismatch can be reported."""
    return hashlib.sha256(b"fapiao master key\0" + secret).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StoredDataKey:
    """A row of ``data_keys``."""

    id: int
    state: str
    wrapped: bytes
    master_fingerprint: str


class MasterKey:
    """The key-encryption key: wraps and unwraps data keys, each bound to its id."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes (got {len(secret)})")
        self._aead = AESGCM(secret)
        self.fingerprint = master_fingerprint(secret)

    def wrap(self, key_id: int, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, _key_context(key_id))

    def unwrap(self, stored: StoredDataKey) -> bytes:
        try:
            nonce, body = stored.wrapped[:NONCE_BYTES], stored.wrapped[NONCE_BYTES:]
            return self._aead.decrypt(nonce, body, _key_context(stored.id))
        except InvalidTag:
            raise MasterKeyMismatch(
                f"the master key (fingerprint {self.fingerprint}) cannot unwrap data key {stored.id}, which was "
                f"wrapped by master key {stored.master_fingerprint}: start every worker with the master key the "
                "register was created with (FAPIAO_MASTER_KEY or FAPIAO_MASTER_KEY_FILE)"
            ) from None


def _key_context(key_id: int) -> bytes:
    return b"fapiao data key %d" % key_id


def _value_context(header: bytes, table: str, column: str, row_id: int | str) -> bytes:
    return b"%s%s.%s#%s" % (header, table.encode(), column.encode(), str(row_id).encode())


class Keyring:
    """The unwrapped data keys a worker holds; seals with the primary key, opens with whichever key a value
    names. ``install`` replaces the whole set (after a rotation), so readers always see a consistent one."""

    def __init__(self, master: MasterKey, previous: MasterKey | None = None) -> None:
        self.master = master
        # The master key being replaced, if any: it unwraps the data keys it still wraps; nothing new uses it.
        self.previous = previous
        self._keys: Mapping[int, AESGCM] = {}
        self.primary_id = 0

    def master_of(self, stored: StoredDataKey) -> MasterKey:
        """The master key that wrapped ``stored``, by its fingerprint (the current one when neither matches, so
        the mismatch is reported against it)."""
        if self.previous is not None and stored.master_fingerprint == self.previous.fingerprint:
            return self.previous
        return self.master

    def install(self, stored: Iterable[StoredDataKey]) -> None:
        """Unwrap every stored key (MasterKeyMismatch if one does not unwrap) and make them the ones in use."""
        keys, primary = {}, 0
        for key in stored:
            keys[key.id] = AESGCM(self.master_of(key).unwrap(key))
            if key.state == "primary":
                primary = key.id
        if not primary:
            raise MasterKeyMismatch("the register has no primary data key; run `fapiao migrate` or `fapiao serve`")
        self._keys, self.primary_id = keys, primary

    def knows(self, key_ids: Iterable[int | None]) -> bool:
        """Whether every one of ``key_ids`` (None: carried-over plaintext) can be opened without a reload."""
        return all(key_id is None or key_id in self._keys for key_id in key_ids)

    def seal(self, plaintext: str, *, table: str, column: str, row_id: int | str) -> bytes:
        header = _HEADER.pack(SEALED, self.primary_id)
        nonce = os.urandom(NONCE_BYTES)
        aead = self._keys[self.primary_id]
        return header + nonce + aead.encrypt(nonce, plaintext.encode(), _value_context(header, table, column, row_id))

    def open(self, sealed: bytes, *, table: str, column: str, row_id: int | str) -> str:
        version = sealed[0] if sealed else -1
        if version == CARRIED_OVER:
            return bytes(sealed[1:]).decode()
        where = f"{table}.{column} of row {row_id}"
        if version != SEALED or len(sealed) < _HEADER.size + NONCE_BYTES:
            raise UndecryptableValue(f"{where} is not a sealed value (version {version})")
        header = bytes(sealed[: _HEADER.size])
        key_id = _HEADER.unpack(header)[1]
        aead = self._keys.get(key_id)
        if aead is None:
            raise UndecryptableValue(f"{where} names data key {key_id}, which this worker does not have")
        nonce, body = sealed[_HEADER.size : _HEADER.size + NONCE_BYTES], sealed[_HEADER.size + NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, body, _value_context(header, table, column, row_id)).decode()
        except InvalidTag:
            raise UndecryptableValue(
                f"{where} does not open under data key {key_id}: it was altered or moved from another row or column"
            ) from None

    def seal_invoice(self, invoice_id: int, invoice: _Parties) -> dict[str, bytes]:
        """The sealed values of an invoice's ``SEALED_INVOICE_COLUMNS``, by column."""
        values = personal_details(invoice)
        return {
            column: self.seal(values[column], table="invoices", column=column, row_id=invoice_id)
            for column in SEALED_INVOICE_COLUMNS
        }

    def open_invoice(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of an invoice row (with its ``id``) whose sealed columns are plaintext again."""
        opened = dict(row)
        for column in SEALED_INVOICE_COLUMNS:
            opened[column] = self.open(row[column], table="invoices", column=column, row_id=row["id"])
        return opened

    def seal_totp_secret(self, principal_id: str, secret: str) -> bytes:
        """A login's TOTP secret, sealed for its row: it opens for ``principal_id``'s login only."""
        return self.seal(secret, table="logins", column="totp_secret", row_id=principal_id)

    def open_totp_secret(self, principal_id: str, sealed: bytes) -> str:
        return self.open(sealed, table="logins", column="totp_secret", row_id=principal_id)
