"""`fapiao serve --demo`: a register to try at once. Seeds demo invoices on first start, creates one demo
principal per role, stores the demo taxpayer's API key where the CLI looks by default (unless that file holds
someone else's credentials), and prints commands that work as pasted."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from fapiao_client.credentials import (
    CredentialsError,
    StoredCredentials,
    default_credentials_path,
    read_credentials,
    write_credentials,
)

from ..domain.access import Principal, PrincipalAccount, Role
from ..domain.calendar import business_date, utc_now, years_before
from ..keys.encryption import Keyring
from ..keys.signing import SigningKey
from ..storage.bulk import count_invoices, demo_sample, seed_register
from .provisioning import provision

DEMO_INVOICES = 1000
DEMO_SEED = 20261127
DEMO_PREFIX = "demo-"
# The seller of the README's invoice.json example: the demo taxpayer acts for it too, so that example issues as pasted.
README_EXAMPLE_SELLER = "91110108MA01ABCD0B"


def _demo_principals(seller: str, region: str) -> list[PrincipalAccount]:
    return [
        PrincipalAccount(Principal("demo-verifier", Role.VERIFIER, display_name="demo verifier")),
        PrincipalAccount(
            Principal(
                "demo-taxpayer", Role.TAXPAYER, frozenset({seller, README_EXAMPLE_SELLER}), display_name="demo seller"
            )
        ),
        PrincipalAccount(
            Principal("demo-officer", Role.TAX_OFFICER, regions=frozenset({region}), display_name="demo tax officer")
        ),
        PrincipalAccount(Principal("demo-auditor", Role.AUDITOR, display_name="demo auditor")),
        PrincipalAccount(Principal("demo-admin", Role.ADMIN, display_name="demo administrator")),
    ]


def _store_taxpayer_key(key: str) -> str:
    """Put the demo taxpayer's key where the CLI finds it; returns a sentence saying what happened."""
    path = default_credentials_path()
    try:
        existing = read_credentials(path)
    except CredentialsError:  # an unusable file: leave it for its owner to look at
        existing = StoredCredentials(principal_id="unknown")
    if existing is not None and not existing.principal_id.startswith(DEMO_PREFIX):
        return (
            f"{path} holds other credentials, so it was left alone; to act as the demo taxpayer run:\n"
            f"  export FAPIAO_TOKEN={key}"
        )
    write_credentials(path, StoredCredentials(api_key=key, principal_id="demo-taxpayer"))
    return f"The demo taxpayer's API key is in {path}; the CLI uses it by default."


def prepare_demo(
    url: str, keyring: Keyring, signer: SigningKey, data_dir: Path, fapiao: str
) -> Callable[[str, str], str]:
    """Prepare the demo register; returns how to print its banner for the address served."""
    done = ""
    if count_invoices(url) == 0:
        seed_register(url, DEMO_INVOICES, keyring, seed=DEMO_SEED, now=utc_now(), signer=signer)
        done = f"Seeded {DEMO_INVOICES} demo invoices.\n"
    sample = demo_sample(url, since=years_before(business_date(utc_now()), 4))
    if sample is None:

        def without_sample(target: str, connection: str = "") -> str:
            return done + "No invoice in the register suits a demo verification."

        return without_sample
    code, number, day, check_code, seller, region = sample
    provisioned = provision(url, keyring, _demo_principals(seller, region), description="fapiao serve --demo")
    keys = {p.account.principal.id: p.api_key for p in provisioned}
    stored = _store_taxpayer_key(keys["demo-taxpayer"])
    others = data_dir / "demo-credentials.json"
    # With FAPIAO_DATABASE_URL nothing else may have made the data dir yet.
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(others, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(keys, file, indent=2)

    def banner(target: str, connection: str = "") -> str:
        """``connection``: the flags the CLI needs for the server's TLS (`--ca-cert FILE`), after each target."""
        reach = f"--target {target}{connection}"
        return (
            f"{done}{stored}\nAPI keys of every demo principal (one per role): {others}\n"
            f"Verify a demo invoice (in another terminal):\n  {fapiao} verify {reach} "
            f"--code {code} --number {number} --date {day.isoformat()} --check-code {check_code[-6:]}\n"
            f"See what it allows now, and its history:\n  {fapiao} invoice actions {reach} {code}:{number}\n"
            f"  {fapiao} invoice events {reach} {code}:{number}"
        )

    return banner
