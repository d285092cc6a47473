"""Secret keys kept in files: read them, or make one (owner-only permissions) the first time."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path


class KeyFileError(Exception):
    pass


def write_private_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` readable by its owner only, unless the file exists; whether this call wrote it.
    The data goes to a private temporary file first and is linked into place, so processes starting at once never
    read half a file and exactly one of them creates it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True


def load_or_create_key(path: Path, *, size: int = 32) -> bytes:
    """The base64 key in ``path``; a new random one is written there (0600) when the file is absent. A key file
    others can read is refused, as ssh refuses such private keys."""
    if not path.exists():
        write_private_file(path, base64.b64encode(secrets.token_bytes(size)) + b"\n")
    return read_key(path)


def read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} can be read by others; make it private (chmod 600 {path})")
    return decode_key(path.read_text().strip(), str(path))


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError as error:
        raise KeyFileError(f"{where}: not a base64 key") from error
    if len(key) < 32:
        raise KeyFileError(f"{where}: a key needs at least 256 bits")
    return key
