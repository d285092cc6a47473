"""Sealing and opening values, wrapping data keys, and finding the master key: pure, no database."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fapiao_server.config import Settings
from fapiao_server.domain.invoice import Party
from fapiao_server.keys.encryption import (
    SEALED_INVOICE_COLUMNS,
    Keyring,
    MasterKey,
    MasterKeyMismatch,
    StoredDataKey,
    UndecryptableValue,
)
from fapiao_server.keys.master_key import (
    GENERATED_KEY_FILE,
    MasterKeyUnusable,
    configured_keyring,
    load_master_key,
)

MASTER = MasterKey(bytes(range(32)))
NAME = "深圳市测试贸易有限公司"


def stored(master: MasterKey, key_id: int, state: str) -> StoredDataKey:
    return StoredDataKey(key_id, state, master.wrap(key_id, os.urandom(32)), master.fingerprint)


def keyring(*keys: StoredDataKey) -> Keyring:
    ring = Keyring(MASTER)
    ring.install(keys or [stored(MASTER, 1, "primary")])
    return ring


def test_a_sealed_value_opens_for_its_row_and_column_only() -> None:
    ring = keyring()
    sealed = ring.seal(NAME, table="invoices", column="buyer_name", row_id=7)
    assert NAME.encode() not in sealed
    assert ring.open(sealed, table="invoices", column="buyer_name", row_id=7) == NAME
    with pytest.raises(UndecryptableValue, match="moved from another row or column"):
        ring.open(sealed, table="invoices", column="buyer_name", row_id=8)
    with pytest.raises(UndecryptableValue, match=r"invoices\.seller_name of row 7"):
        ring.open(sealed, table="invoices", column="seller_name", row_id=7)


def test_the_associated_data_names_table_column_and_row() -> None:
    """Pinned byte for byte: rows sealed before row ids could be text (principal ids) must keep opening."""
    data_key = os.urandom(32)
    ring = keyring(StoredDataKey(1, "primary", MASTER.wrap(1, data_key), MASTER.fingerprint))
    for sealed, context in (
        (ring.seal(NAME, table="invoices", column="buyer_name", row_id=7), b"invoices.buyer_name#7"),
        (ring.seal_totp_secret("alice", "JBSWY3DPEHPK3PXP"), b"logins.totp_secret#alice"),
    ):
        header, nonce, body = sealed[:5], sealed[5:17], sealed[17:]
        assert header == b"\x01" + (1).to_bytes(4, "big")
        AESGCM(data_key).decrypt(nonce, body, header + context)


def test_a_totp_secret_opens_for_its_login_only() -> None:
    ring = keyring()
    sealed = ring.seal_totp_secret("alice", "JBSWY3DPEHPK3PXP")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert ring.open_totp_secret("alice", sealed) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(UndecryptableValue, match=r"logins\.totp_secret of row mallory"):
        ring.open_totp_secret("mallory", sealed)


def test_every_seal_has_a_fresh_nonce_and_an_altered_byte_is_refused() -> None:
    ring = keyring()
    first, second = (ring.seal(NAME, table="invoices", column="buyer_name", row_id=1) for _ in range(2))
    assert first != second
    altered = first[:-1] + bytes([first[-1] ^ 1])
    with pytest.raises(UndecryptableValue):
        ring.open(altered, table="invoices", column="buyer_name", row_id=1)


def test_values_name_their_key_so_old_keys_still_open_after_a_rotation() -> None:
    old = stored(MASTER, 1, "primary")
    ring = keyring(old)
    sealed_with_old = ring.seal(NAME, table="invoices", column="buyer_name", row_id=3)
    ring.install([StoredDataKey(1, "retiring", old.wrapped, old.master_fingerprint), stored(MASTER, 2, "primary")])
    assert ring.primary_id == 2
    assert ring.open(sealed_with_old, table="invoices", column="buyer_name", row_id=3) == NAME
    assert ring.seal(NAME, table="invoices", column="buyer_name", row_id=3)[1:5] == (2).to_bytes(4, "big")


def test_a_value_of_an_unknown_key_says_which_key() -> None:
    sealed = keyring(stored(MASTER, 5, "primary")).seal(NAME, table="invoices", column="buyer_name", row_id=1)
    ring = keyring()
    assert not ring.knows([5]) and ring.knows([1, None])
    with pytest.raises(UndecryptableValue, match="data key 5"):
        ring.open(sealed, table="invoices", column="buyer_name", row_id=1)


def test_carried_over_values_open_as_they_are() -> None:
    assert keyring().open(b"\x00" + NAME.encode(), table="invoices", column="buyer_name", row_id=1) == NAME


def test_a_whole_invoice_round_trips() -> None:
    class Parties:
        seller = Party("91110108MA01234567", "卖方", "北京", "010-1234", "工商银行", "6222 0000")
        buyer = Party("", "买方", phone="138 0000 0000")
        issuer_name, payee_name, reviewer_name = "张三", "李四", ""

    ring = keyring()
    sealed = ring.seal_invoice(9, Parties())
    assert set(sealed) == set(SEALED_INVOICE_COLUMNS)
    opened = ring.open_invoice({"id": 9, "amount_fen": 100, **sealed})
    assert opened["seller_bank_account"] == "6222 0000" and opened["buyer_phone"] == "138 0000 0000"
    assert opened["reviewer_name"] == "" and opened["amount_fen"] == 100


def test_another_master_key_is_refused_with_both_fingerprints() -> None:
    other = MasterKey(os.urandom(32))
    with pytest.raises(MasterKeyMismatch, match=f"fingerprint {other.fingerprint}.*{MASTER.fingerprint}"):
        Keyring(other).install([stored(MASTER, 1, "primary")])


def test_a_wrapped_key_moved_to_another_id_does_not_unwrap() -> None:
    moved = stored(MASTER, 1, "primary")
    with pytest.raises(MasterKeyMismatch):
        keyring(StoredDataKey(2, "primary", moved.wrapped, moved.master_fingerprint))


def test_without_configuration_a_private_key_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = load_master_key(key=None, key_file=None, data_dir=tmp_path)
    path = tmp_path / GENERATED_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(key=None, key_file=None, data_dir=tmp_path).fingerprint == first.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == [GENERATED_KEY_FILE]  # no temporary file left behind


def test_a_configured_key_wins_and_a_bad_one_is_named(tmp_path: Path) -> None:
    secret = os.urandom(32)
    text = base64.b64encode(secret).decode()
    assert load_master_key(key=text, key_file=None, data_dir=tmp_path).fingerprint == MasterKey(secret).fingerprint
    assert not (tmp_path / GENERATED_KEY_FILE).exists()
    (tmp_path / "k").write_text(text + "\n")
    assert (
        load_master_key(key=None, key_file=tmp_path / "k", data_dir=tmp_path).fingerprint
        == MasterKey(secret).fingerprint
    )
    with pytest.raises(MasterKeyUnusable, match="FAPIAO_MASTER_KEY is not base64"):
        load_master_key(key="not base64!", key_file=None, data_dir=tmp_path)
    with pytest.raises(MasterKeyUnusable, match="32 bytes"):
        load_master_key(key=base64.b64encode(b"short").decode(), key_file=None, data_dir=tmp_path)
    with pytest.raises(MasterKeyUnusable, match="cannot be read"):
        load_master_key(key=None, key_file=tmp_path / "missing", data_dir=tmp_path)


def test_the_previous_master_key_is_optional_and_empty_means_unset(tmp_path: Path) -> None:
    old = base64.b64encode(os.urandom(32)).decode()
    base = {"master_key": base64.b64encode(os.urandom(32)).decode(), "data_dir": tmp_path}
    assert configured_keyring(Settings(**base)).previous is None
    assert configured_keyring(Settings(**base, previous_master_key="")).previous is None
    previous = configured_keyring(Settings(**base, previous_master_key=old)).previous
    assert previous is not None and previous.fingerprint == MasterKey(base64.b64decode(old)).fingerprint
    (tmp_path / "old.key").write_text(old + "\n")
    from_file = configured_keyring(Settings(**base, previous_master_key_file=tmp_path / "old.key")).previous
    assert from_file is not None and from_file.fingerprint == previous.fingerprint
    with pytest.raises(MasterKeyUnusable, match="FAPIAO_PREVIOUS_MASTER_KEY is not base64"):
        configured_keyring(Settings(**base, previous_master_key="not base64!"))
