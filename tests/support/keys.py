"""One master key per test run, shared by every server a test starts and by the in-process adapters, as every
worker of a real fleet on one database must share it."""

from __future__ import annotations

import base64
import functools
import os
from typing import Any

from fapiao_server.keys.data_keys import prepare_keys
from fapiao_server.keys.encryption import Keyring, MasterKey

_SECRET = os.urandom(32)
TEST_MASTER_KEY = base64.b64encode(_SECRET).decode()


def master_key_env() -> dict[str, str]:
    """The environment that gives a `fapiao` process this run's master key."""
    return {"FAPIAO_MASTER_KEY": TEST_MASTER_KEY}


def new_keyring(database_url: str) -> Keyring:
    """A keyring of this run's master key filled with a database's data keys (the first one created), as a
    worker starting now would hold."""
    keyring = Keyring(MasterKey(_SECRET))
    prepare_keys(database_url, keyring)
    return keyring


# The keyring of a database that the in-process adapters of every test share, as a worker's adapters do.
shared_keyring = functools.cache(new_keyring)


def keyring_of(pool: Any) -> Keyring:
    """The keyring for the adapters a test builds on ``pool`` (a psycopg pool)."""
    return shared_keyring(pool.conninfo)
