"""The signing key of every test fleet: one key file per test run, which ServerProcess hands to every server it
starts (FAPIAO_SIGNING_KEY_FILE) and the seeder signs with, as one production fleet shares one key."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from fapiao_server.keys.signing import SigningKey, create_key_file


@functools.cache
def fleet_key_file() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fapiao-test-key-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "signing-key.pem"
    create_key_file(path)
    return path


def fleet_signing_key() -> SigningKey:
    return SigningKey.load(fleet_key_file())
