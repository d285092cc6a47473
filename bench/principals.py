"""The benches' callers: principals made straight in a bench database (fapiao_server.entrypoints.provisioning,
the use case behind AdminService), each with an API key, so every load acts as a principal of its own and the
register's records name it."""

from __future__ import annotations

from collections.abc import Iterable

from fapiao_server.config import Settings
from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.entrypoints.provisioning import provision
from fapiao_server.keys.data_keys import prepare_keys
from fapiao_server.keys.encryption import Keyring
from fapiao_server.keys.master_key import configured_keyring


def register_keyring(database_url: str, settings: Settings | None = None) -> Keyring:
    """The data keys of a bench database under the master key its servers use: the one ``settings`` name (by
    default this process's FAPIAO_* environment, which the benches' servers inherit)."""
    keyring = configured_keyring(settings or Settings())
    prepare_keys(database_url, keyring)
    return keyring


def api_key(
    database_url: str,
    principal_id: str,
    role: Role = Role.VERIFIER,
    *,
    tax_ids: Iterable[str] = (),
    regions: Iterable[str] = (),
    rate_limit: float | None = None,
) -> str:
    """A new API key of ``principal_id`` (a ``role``, created if missing) in ``database_url``."""
    account = PrincipalAccount(
        Principal(
            principal_id, role, frozenset(tax_ids), frozenset(regions), rate_limit=rate_limit, display_name="bench"
        )
    )
    (done,) = provision(database_url, register_keyring(database_url), [account], description="bench")
    return done.api_key


class ApiKeys:
    """One API key per (database, principal), made on first use: a bench names its callers as it goes."""

    def __init__(self, role: Role = Role.VERIFIER) -> None:
        self._role = role
        self._keys: dict[tuple[str, str], str] = {}

    def of(self, database_url: str, principal_id: str) -> str:
        key = (database_url, principal_id)
        if key not in self._keys:
            self._keys[key] = api_key(database_url, principal_id, self._role)
        return self._keys[key]
