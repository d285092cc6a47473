"""Logins, sessions, API keys and their revocation, as people and administrators use them: through the CLI and
the SDK against real servers. A revoked key or disabled principal stops working at once on the worker that
revoked it and within moments on every other (PostgreSQL announces the change); the bound is measured here."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyotp
import pytest

from fapiao_client import FapiaoError, VerificationClient
from fapiao_client.access_client import AdminClient, AuthClient
from fapiao_server.domain.access import Role
from fapiao_server.domain.taxpayer import uscc_check_character
from tests.conftest import Register
from tests.support.access import principal_key
from tests.support.fleet import start_servers, stop_servers
from tests.support.server import ServerProcess, fapiao_executable

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"


def tax_id() -> str:
    body = "91310115" + uuid.uuid4().hex[:9].upper().translate(str.maketrans("IOSVZ", "ABCDE"))
    return body + uscc_check_character(body)


class Person:
    """Someone at a terminal: a home of their own (credentials file) and the `fapiao` command."""

    def __init__(self, home: Path, target: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
        self.env |= {"XDG_CONFIG_HOME": str(home), "FAPIAO_TARGET": target}
        self.credentials = home / "fapiao" / "credentials.json"

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(fapiao_executable()), *args], input=stdin, capture_output=True, text=True, timeout=60,
            env={**self.env, **env},
        )  # fmt: skip


@pytest.fixture
def admin(server: ServerProcess, tmp_path: Path, database_url: str) -> Person:
    person = Person(tmp_path / "admin-home", server.address)
    person.env["FAPIAO_TOKEN"] = principal_key(database_url, Role.ADMIN)
    return person


def test_an_administrator_enrols_a_person_who_logs_in_and_works_until_disabled(
    server: ServerProcess, admin: Person, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    principal, username, seller = f"acme-{tag}", f"alice-{tag}", tax_id()
    created = admin("admin", "principals", "create", principal, "--role", "taxpayer", "--tax-id", seller, "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["role"] == "ROLE_TAXPAYER"
    again = admin("admin", "principals", "create", principal, "--role", "verifier")
    assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
    bad = admin("admin", "principals", "create", "Bad Id", "--role", "taxpayer")
    assert bad.returncode == 2 and "principal.id" in bad.stderr and "principal.tax_ids" in bad.stderr

    enrolled = admin("admin", "principals", "set-login", principal, "--username", username, "--password-stdin",
                     stdin=PASSWORD + "\n")  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    secret = re.search(r"secret=([A-Z2-7]+)", enrolled.stdout)
    assert secret, enrolled.stdout

    alice = Person(tmp_path / "alice-home", server.address)
    wrong = alice("login", "--username", username, "--password-stdin", "--code", "000000", stdin=PASSWORD + "\n")
    assert wrong.returncode == 7 and "LOGIN_FAILED" in wrong.stderr
    code = pyotp.TOTP(secret.group(1)).now()
    logged_in = alice("login", "--username", username, "--password-stdin", "--code", code, stdin=PASSWORD + "\n")
    assert logged_in.returncode == 0, logged_in.stderr
    assert stat.S_IMODE(alice.credentials.stat().st_mode) == 0o600
    replayed = alice("login", "--username", username, "--password-stdin", "--code", code, stdin=PASSWORD + "\n")
    assert replayed.returncode == 7  # a one-time code is good once
    who = alice("whoami", "--json")
    assert who.returncode == 0 and json.loads(who.stdout)["id"] == principal, who.stderr
    assert alice("invoice", "list", "--seller", seller).returncode == 0  # its own invoices: none yet, but allowed
    assert alice("admin", "principals", "list").returncode == 7  # a taxpayer is no administrator

    alice.credentials.chmod(0o644)
    unsafe = alice("whoami")
    assert unsafe.returncode == 2 and "chmod 600" in unsafe.stderr
    alice.credentials.chmod(0o600)

    disabled = admin("admin", "principals", "update", principal, "--disable")
    assert disabled.returncode == 0 and "DISABLED" in disabled.stdout
    refused = alice("whoami")
    assert refused.returncode == 7 and "CREDENTIALS_REVOKED" in refused.stderr
    assert admin("admin", "principals", "update", principal, "--enable").returncode == 0
    ended = alice("whoami")
    assert ended.returncode == 7  # disabling ended its sessions: enabling does not bring them back


def test_api_keys_are_shown_once_listed_and_revoked(admin: Person, server: ServerProcess) -> None:
    principal = f"erp-{uuid.uuid4().hex[:8]}"
    assert admin("admin", "principals", "create", principal, "--role", "verifier").returncode == 0
    made = admin("admin", "keys", "create", principal, "--description", "nightly batch", "--json")
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout)
    secret, key_id = answer["secret"], answer["key"]["id"]
    assert secret.startswith(f"fpk_{key_id}_")
    listed = admin("admin", "keys", "list", principal, "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [key_id]
    assert "secret" not in listed.stdout  # only a hash is kept
    erp = Person(Path("/nonexistent"), server.address)
    assert erp("whoami", FAPIAO_TOKEN=secret).returncode == 0
    assert admin("admin", "keys", "revoke", key_id).returncode == 0
    revoked = erp("whoami", FAPIAO_TOKEN=secret)
    assert revoked.returncode == 7 and "CREDENTIALS_REVOKED" in revoked.stderr


@pytest.fixture(scope="module")
def two_servers(database_url: str, redis_url: str) -> Iterator[list[ServerProcess]]:
    started = start_servers(database_url, redis_url, 2)
    yield started
    stop_servers(started)


def test_a_revoked_key_stops_working_on_every_worker_at_once(
    two_servers: list[ServerProcess], register: Register, new_key: Callable[..., str], database_url: str
) -> None:
    """Revoked through worker A while worker B has the key checked and remembered: A refuses the very next call;
    B refuses once PostgreSQL's announcement reaches it. The wait on B is measured (bound: 1 s)."""
    a, b = (server.address for server in two_servers)
    sample = register.sample("state = 1")
    admin_key = principal_key(database_url, Role.ADMIN)
    waits = []
    for _ in range(5):
        principal = f"revoked-{uuid.uuid4().hex[:8]}"
        with AdminClient(a, token=admin_key) as admin:
            admin.create_principal(principal, "verifier")
            made = admin.create_api_key(principal)
            with VerificationClient(a, token=made.secret) as on_a, VerificationClient(b, token=made.secret) as on_b:
                on_a.verify_invoice(**sample.request_fields())
                on_b.verify_invoice(**sample.request_fields())  # B has checked and remembered the key
                admin.revoke_api_key(made.key.id)
                revoked = time.monotonic()
                with pytest.raises(FapiaoError) as refused:
                    on_a.verify_invoice(**sample.request_fields())
                assert refused.value.reason == "CREDENTIALS_REVOKED"
                while True:
                    try:
                        on_b.verify_invoice(**sample.request_fields())
                    except FapiaoError as error:
                        assert error.reason == "CREDENTIALS_REVOKED"
                        break
                    assert time.monotonic() - revoked < 1.0, "worker B still accepted a key revoked 1 s ago"
                waits.append(time.monotonic() - revoked)
    print(f"revocation reached the other worker in {max(waits) * 1000:.1f} ms at most ({len(waits)} tries)")


def test_a_session_renews_itself_before_its_access_token_expires(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Access tokens living 3 seconds: the SDK renews with the refresh token and writes the new tokens back, and a
    refresh token used twice ends the session (it was copied)."""
    (short,) = start_servers(database_url, redis_url, 1, settings={"FAPIAO_ACCESS_TOKEN_MINUTES": "0.05"})
    try:
        tag = uuid.uuid4().hex[:8]
        admin_key = principal_key(database_url, Role.ADMIN)
        with AdminClient(short.address, token=admin_key) as admin:
            admin.create_principal(f"renewing-{tag}", "verifier")
            secret = admin.set_login(f"renewing-{tag}", f"renew-{tag}", PASSWORD).totp_secret
        person = Person(tmp_path, short.address)
        code = pyotp.TOTP(secret).now()
        assert person("login", "--username", f"renew-{tag}", "--password-stdin", "--code", code,
                      stdin=PASSWORD + "\n").returncode == 0  # fmt: skip
        first = json.loads(person.credentials.read_text())
        time.sleep(4)  # the access token has expired by now
        assert person("whoami").returncode == 0
        renewed = json.loads(person.credentials.read_text())
        assert renewed["refresh_token"] != first["refresh_token"] and renewed["access_token"] != first["access_token"]
        with AuthClient(short.address, token="") as auth:
            with pytest.raises(FapiaoError) as stolen:
                auth.refresh(first["refresh_token"])  # the old one, replayed
            assert stolen.value.reason == "CREDENTIALS_REVOKED"
        assert person("whoami").returncode == 7  # the whole session ended
    finally:
        stop_servers([short])


def test_guessing_a_password_is_throttled_per_username(server: ServerProcess) -> None:
    """Login needs no credentials, so it has a limit of its own: two attempts a second per username, fleet-wide.
    Ten guesses at once: a few are checked (and fail), the rest are told when to retry."""
    username = f"target-{uuid.uuid4().hex[:8]}"

    def guess(auth: AuthClient) -> FapiaoError:
        with pytest.raises(FapiaoError) as refused:
            auth.login(username, "guess " * 3, "123456")
        return refused.value

    with AuthClient(server.address, token="") as auth, ThreadPoolExecutor(10) as pool:
        refusals = list(pool.map(lambda _: guess(auth), range(10)))
    codes = Counter(r.code.name for r in refusals)
    assert set(codes) == {"UNAUTHENTICATED", "RESOURCE_EXHAUSTED"} and codes["UNAUTHENTICATED"] <= 4, codes
    throttled = next(r for r in refusals if r.code.name == "RESOURCE_EXHAUSTED")
    assert throttled.retry_after is not None and 0 < throttled.retry_after <= 1
