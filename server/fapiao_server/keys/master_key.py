"""Where the master key comes from: FAPIAO_MASTER_KEY (base64), FAPIAO_MASTER_KEY_FILE, or else a key generated
once under the data folder, readable by its owner only, and reused by every later start."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .encryption import KEY_BYTES, Keyring, MasterKey
from .files import write_private_file

if TYPE_CHECKING:
    from ..config import Settings

GENERATED_KEY_FILE = "master.key"


class MasterKeyUnusable(RuntimeError):
    """The configured master key is missing or malformed; the message says which setting to fix."""


def _decode(text: str, source: str) -> MasterKey:
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise MasterKeyUnusable(f"{source} is not base64") from None
    if len(secret) != KEY_BYTES:
        raise MasterKeyUnusable(f"{source} must hold {KEY_BYTES} bytes (base64 of `head -c 32 /dev/urandom`)")
    return MasterKey(secret)


def generate_key_file(path: Path) -> None:
    """Write a new random key to ``path`` unless one is there already (workers starting together may race: the
    first one's key is the one every worker reads)."""
    write_private_file(path, base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")


def configured_master_key(settings: Settings) -> MasterKey:
    """The master key the settings name (FAPIAO_MASTER_KEY, FAPIAO_MASTER_KEY_FILE), or the data folder's."""
    key = settings.master_key.get_secret_value() if settings.master_key is not None else None
    return load_master_key(key=key, key_file=settings.master_key_file, data_dir=settings.data_dir)


def configured_keyring(settings: Settings) -> Keyring:
    """An empty keyring under the configured master key, and the previous one while it is being replaced."""
    return Keyring(configured_master_key(settings), configured_previous_master_key(settings))


def configured_previous_master_key(settings: Settings) -> MasterKey | None:
    """The master key being replaced (FAPIAO_PREVIOUS_MASTER_KEY or FAPIAO_PREVIOUS_MASTER_KEY_FILE), if any. Empty
    is unset, as for FAPIAO_MASTER_KEY: clearing the setting in a config map ends the replacement."""
    key = settings.previous_master_key.get_secret_value() if settings.previous_master_key is not None else ""
    if key:
        return _decode(key, "FAPIAO_PREVIOUS_MASTER_KEY")
    if settings.previous_master_key_file is None:
        return None
    return _read(settings.previous_master_key_file, "FAPIAO_PREVIOUS_MASTER_KEY_FILE")


def load_master_key(*, key: str | None, key_file: Path | None, data_dir: Path) -> MasterKey:
    """The master key the settings name (``key`` wins over ``key_file``), or the one kept under ``data_dir``."""
    if key:
        return _decode(key, "FAPIAO_MASTER_KEY")
    if key_file is None:
        key_file = data_dir / GENERATED_KEY_FILE
        generate_key_file(key_file)
    return _read(key_file, "FAPIAO_MASTER_KEY_FILE")


def _read(path: Path, setting: str) -> MasterKey:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise MasterKeyUnusable(f"{setting} {path} cannot be read: {error}") from None
    return _decode(text, f"the key file {path} ({setting})")
