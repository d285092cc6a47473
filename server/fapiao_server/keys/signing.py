"""The register's Ed25519 signing key: where it comes from, its id, and signatures made with it.

Every worker and server of one fleet must sign with the same key, so it lives in a PEM file all of them read
(``FAPIAO_SIGNING_KEY_FILE``). Unset, ``fapiao serve`` uses ``signing-key.pem`` under the data dir and creates it
(0600) on a fresh machine. To rotate, point the setting at a new file (``fapiao signing-key new FILE``) and
restart the fleet: each server publishes its key when it starts (storage.signing_keys), so the old public key
stays listed and what it signed keeps verifying.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .files import write_private_file

DEFAULT_FILE_NAME = "signing-key.pem"
ALGORITHM = "Ed25519"


def key_id_of(public_key: bytes) -> str:
    """The id a raw 32-byte public key is published under: the first 16 hex digits of its SHA-256. Derived, not
    assigned, so servers sharing a key file agree on it without talking to each other."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class SigningKey:
    """An Ed25519 private key with its id (implements domain.signing.Signer)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key_id = key_id_of(self.public_key)

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """The key in a PEM file (PKCS#8, unencrypted); ValueError naming the file if it holds anything else."""
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: not an unencrypted PEM private key ({error})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path}: the signing key must be Ed25519, not {type(private).__name__}")
        return cls(private)


def create_key_file(path: Path) -> bool:
    """Write a new key to ``path`` readable by its owner only; False (and nothing written) if the file exists."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return write_private_file(path, pem)


def signing_key(key_file: Path | None, data_dir: Path) -> SigningKey:
    """The fleet's key: ``key_file`` when set (it must exist), else the data dir's, created when missing."""
    if key_file is not None:
        return SigningKey.load(key_file)
    path = data_dir / DEFAULT_FILE_NAME
    create_key_file(path)
    return SigningKey.load(path)
