"""Encryption at rest through real servers and the real CLI: invoices issued, `fapiao keys rotate` run while two
servers serve, and GetInvoice still answering with the right names on both; `fapiao keys list`; TOTP secrets
sealed, a secret copied to another login refused as a failed login, logins working across a rotation; a tampered
value is a logged server error on a server that keeps serving; a server with another master key refuses to
start; without configuration a key is generated once under the data dir and reused; the master key is replaced
without downtime (`fapiao keys rewrap`)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pyotp
import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao_client import FapiaoError
from fapiao_client.access_client import AdminClient, AuthClient
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.keys.data_keys import prepare_keys
from fapiao_server.keys.encryption import Keyring, MasterKey, MasterKeyMismatch
from fapiao_server.keys.master_key import GENERATED_KEY_FILE
from fapiao_server.keys.rotation import start_rotation
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.migrations import migrate
from tests.support.access import principal_key
from tests.support.fleet import by_id, channel, new_tax_id, pool_key, start_servers, stop_servers
from tests.support.invoices import LINES, new_request_id
from tests.support.keys import master_key_env, shared_keyring
from tests.support.server import ServerProcess, fapiao_executable, logged_errors
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

pytestmark = pytest.mark.slow
BUYER_NAME, BUYER_ACCOUNT = "杭州机密电子有限公司", "6228480402564890018"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def own_database(pg_admin_url: str) -> Iterator[str]:
    with fresh_database(pg_admin_url, "encryption_e2e") as url:
        migrate(url, today=business_date(utc_now()))
        seed_register(url, 200, shared_keyring(url), seed=5, now=utc_now(), signer=fleet_signing_key())
        yield url


@pytest.fixture(scope="module")
def servers(own_database: str, redis_url: str) -> Iterator[list[ServerProcess]]:
    started = start_servers(own_database, redis_url, 2)
    yield started
    stop_servers(started)


def keys_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    env |= {**master_key_env(), "FAPIAO_DATABASE_URL": database_url, "FAPIAO_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [str(fapiao_executable()), "keys", *args], capture_output=True, text=True, timeout=120, env=env
    )


def issue_request() -> pb.IssueInvoiceRequest:
    return pb.IssueInvoiceRequest(
        request_id=new_request_id(),
        invoice_type=invoice_pb2.INVOICE_TYPE_E_VAT_GENERAL,
        seller=invoice_pb2.Party(tax_id=new_tax_id(), name="苏州保密制造有限公司", phone="0512-66778899"),
        buyer=invoice_pb2.Party(tax_id=new_tax_id("330106"), name=BUYER_NAME, bank_account=BUYER_ACCOUNT),
        lines=LINES,
        issuer_name="周开票",
    )


@pytest.fixture(scope="module")
def key(own_database: str) -> str:
    """The module's taxpayer: it acts for every tax id new_tax_id hands out."""
    return pool_key(own_database)


async def get(address: str, invoice_id: str, key: str) -> invoice_pb2.Invoice:
    async with channel(address, key) as ch:
        response = await pb_grpc.InvoiceServiceStub(ch).GetInvoice(pb.GetInvoiceRequest(invoice=by_id(invoice_id)))
    return response.invoice


async def issue(address: str, key: str) -> invoice_pb2.Invoice:
    async with channel(address, key) as ch:
        return (await pb_grpc.InvoiceServiceStub(ch).IssueInvoice(issue_request())).invoice


def key_of_row(database_url: str, invoice_id: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT data_key_id FROM invoices WHERE id = %s", (int(invoice_id),)).fetchone()
    assert row is not None
    return row[0]


async def test_invoices_read_the_same_after_a_rotation_while_serving(
    servers: list[ServerProcess], own_database: str, key: str
) -> None:
    a, b = (server.address for server in servers)
    before = [await issue(a, key), await issue(b, key)]
    for invoice in before:  # both servers have answered (and cached) them before the rotation
        for address in (a, b):
            assert (await get(address, invoice.id, key)).buyer.name == BUYER_NAME
    old_key = key_of_row(own_database, before[0].id)

    rotated = keys_command(own_database, "rotate", "--batch-rows", "40")
    assert rotated.returncode == 0, rotated.stderr
    assert f"data key {old_key} retired" in rotated.stdout
    new_key = key_of_row(own_database, before[0].id)
    assert new_key != old_key and f"every invoice and login is encrypted with data key {new_key}" in rotated.stdout

    after = await issue(b, key)
    assert key_of_row(own_database, after.id) == new_key
    for invoice in [*before, after]:
        for address in (a, b):
            got = await get(address, invoice.id, key)
            assert (got.buyer.name, got.buyer.bank_account, got.issuer_name) == (BUYER_NAME, BUYER_ACCOUNT, "周开票")
            assert got.seller.name == "苏州保密制造有限公司" and got.seller.phone == "0512-66778899"

    listed = keys_command(own_database, "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows[str(new_key)][1] == "primary" and int(rows[str(new_key)][2]) == 200 + 3
    assert rows[str(old_key)][1:3] == ["retired", "0"]
    with psycopg.connect(own_database) as conn:  # an administrator's act outside the RPCs is audited too
        audited = conn.execute(
            "SELECT subject, details->>'step', actor_role FROM audit_events"
            " WHERE action = 'fapiao keys rotate' ORDER BY id"
        ).fetchall()
    assert audited == [
        (f"data-keys/{new_key}", "new primary key", "ADMIN"),
        (f"data-keys/{old_key}", "retired", "ADMIN"),
    ]


def stored_secrets(database_url: str) -> dict[str, tuple[bytes, int | None]]:
    """Each login's stored TOTP secret and the data key it names, by principal id."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT principal_id, totp_secret, data_key_id FROM logins").fetchall()
    return {principal_id: (bytes(secret), key_id) for principal_id, secret, key_id in rows}


def test_totp_secrets_are_sealed_refused_when_copied_and_kept_across_a_rotation(
    servers: list[ServerProcess], own_database: str
) -> None:
    a, b = servers
    tag = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{tag}", f"bob-{tag}"
    with AdminClient(a.address, token=principal_key(own_database, Role.ADMIN)) as admin:
        for name in (alice, bob):
            admin.create_principal(name, "verifier")
        secrets = {name: admin.set_login(name, name, PASSWORD).totp_secret for name in (alice, bob)}
    stored = stored_secrets(own_database)
    for name, secret in secrets.items():
        assert secret.encode() not in stored[name][0] and stored[name][1] is not None

    with AuthClient(b.address, token="") as auth:
        assert auth.login(alice, PASSWORD, pyotp.TOTP(secrets[alice]).now()).principal.id == alice
        with psycopg.connect(own_database, autocommit=True) as conn:
            conn.execute("UPDATE logins SET totp_secret = %s WHERE principal_id = %s", (stored[bob][0], alice))
        try:  # Bob's sealed secret on Alice's login opens for neither: the login fails, the server says why
            with pytest.raises(FapiaoError) as refused:
                auth.login(alice, PASSWORD, pyotp.TOTP(secrets[bob]).at(time.time() + 30))
            assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, "LOGIN_FAILED")
            logged = "".join(logged_errors(b.stderr))
            assert f"logins.totp_secret of row {alice}" in logged, b.stderr[-20:]
        finally:
            with psycopg.connect(own_database, autocommit=True) as conn:
                conn.execute("UPDATE logins SET totp_secret = %s WHERE principal_id = %s", (stored[alice][0], alice))
            # The error was this test's doing: stop_servers must not count it against the fleet.
            b.stderr[:] = [line for line in b.stderr if not logged_errors([line])]

    rotated = keys_command(own_database, "rotate")
    assert rotated.returncode == 0, rotated.stderr
    resealed = stored_secrets(own_database)
    for name in (alice, bob):
        assert resealed[name][0] != stored[name][0] and resealed[name][1] != stored[name][1]
    # The next step's code: Alice's current one was taken by her first login.
    for server, name in ((a, alice), (b, bob)):
        with AuthClient(server.address, token="") as auth:
            code = pyotp.TOTP(secrets[name]).at(time.time() + 30)
            assert auth.login(name, PASSWORD, code).principal.id == name


async def test_a_tampered_value_is_a_logged_server_error_and_the_server_keeps_serving(
    servers: list[ServerProcess], own_database: str, key: str
) -> None:
    address = servers[0].address
    victim, donor = await issue(address, key), await issue(address, key)
    with psycopg.connect(own_database, autocommit=True) as conn:
        (kept,) = conn.execute("SELECT buyer_name FROM invoices WHERE id = %s", (int(victim.id),)).fetchone() or (b"",)
        conn.execute(
            "UPDATE invoices SET buyer_name = (SELECT buyer_name FROM invoices WHERE id = %s) WHERE id = %s",
            (int(donor.id), int(victim.id)),
        )
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await get(address, victim.id, key)
        assert refused.value.code() is grpc.StatusCode.INTERNAL
        assert (await get(address, donor.id, key)).buyer.name == BUYER_NAME  # still serving
        logged = logged_errors(servers[0].stderr)
        assert any("UndecryptableValue" in line for line in logged), servers[0].stderr[-20:]
        details = "".join(servers[0].stderr)
        assert f"invoices.buyer_name of row {victim.id}" in details
    finally:
        with psycopg.connect(own_database, autocommit=True) as conn:
            conn.execute("UPDATE invoices SET buyer_name = %s WHERE id = %s", (kept, int(victim.id)))
        # The error was this test's doing: stop_servers must not count it against the fleet.
        servers[0].stderr[:] = [line for line in servers[0].stderr if not logged_errors([line])]
    assert (await get(address, victim.id, key)).buyer.name == BUYER_NAME


def test_a_server_with_another_master_key_refuses_to_start(own_database: str, redis_url: str) -> None:
    stranger = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        env={
            "FAPIAO_DATABASE_URL": own_database,
            "FAPIAO_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "FAPIAO_LOG_LEVEL": "WARNING",
        },
    )
    with pytest.raises(RuntimeError, match="cannot unwrap data key"):
        stranger.start(timeout=60)
    assert stranger.wait() != 0


def test_without_a_configured_key_serve_keeps_one_under_the_data_dir(pg_admin_url: str, tmp_path: Path) -> None:
    """The README's `fapiao serve` on a fresh machine: a private key is generated once, and a restart (two workers
    each time) finds and uses the same one, so the data keys it wrapped still unwrap."""
    with fresh_database(pg_admin_url, "generated_key") as url:
        # An empty FAPIAO_MASTER_KEY is "not configured" (it replaces the key ServerProcess passes by default).
        env = {"FAPIAO_DATABASE_URL": url, "FAPIAO_DATA_DIR": str(tmp_path), "FAPIAO_MASTER_KEY": ""}
        for _ in range(2):
            ServerProcess("--listen", "127.0.0.1:0", "--workers", "2", env=env).start().stop()
        key_file = tmp_path / GENERATED_KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM data_keys").fetchone() == (1,)


def test_the_master_key_is_replaced_without_downtime(pg_admin_url: str, redis_url: str) -> None:
    """docs/encryption.md's steps: workers restarted with the new key and the old one as previous serve at once;
    `fapiao keys rewrap` wraps every data key under the new one; then the new key alone opens everything and the
    old one alone no longer starts anything."""
    old, new = master_key_env()["FAPIAO_MASTER_KEY"], base64.b64encode(os.urandom(32)).decode()
    new_master = MasterKey(base64.b64decode(new))
    with fresh_database(pg_admin_url, "rewrap") as url:
        migrate(url, today=business_date(utc_now()))
        seed_register(url, 50, shared_keyring(url), seed=8, now=utc_now(), signer=fleet_signing_key())
        start_rotation(url, shared_keyring(url))  # two data keys, both wrapped by the old master key
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            rows = cur.execute("SELECT * FROM invoices ORDER BY id LIMIT 5").fetchall()
        names = [shared_keyring(url).open_invoice(row)["buyer_name"] for row in rows]

        both = {"FAPIAO_MASTER_KEY": new, "FAPIAO_PREVIOUS_MASTER_KEY": old}
        (server,) = start_servers(url, redis_url, 1, settings=both)
        stop_servers([server])

        def keys(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
            clean = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
            clean |= {**env, "FAPIAO_DATABASE_URL": url, "FAPIAO_LOG_LEVEL": "WARNING"}
            return subprocess.run([str(fapiao_executable()), "keys", *args], capture_output=True, text=True,
                                  timeout=120, env=clean)  # fmt: skip

        refused = keys("rewrap", env={"FAPIAO_MASTER_KEY": new})
        assert refused.returncode == 1 and "cannot unwrap data key" in refused.stderr, refused
        done = keys("rewrap", env=both)
        assert done.returncode == 0 and "data keys 1, 2 are now wrapped" in done.stdout, done
        again = keys("rewrap", env=both)
        assert again.returncode == 0 and "already wrapped" in again.stdout, again
        with psycopg.connect(url) as conn:  # one audit row per data key rewrapped, none for the idle second run
            audited = conn.execute(
                "SELECT subject, details->>'master_key' FROM audit_events WHERE action = 'fapiao keys rewrap'"
                " ORDER BY id"
            ).fetchall()
        assert audited == [(f"data-keys/{key_id}", new_master.fingerprint) for key_id in (1, 2)]
        listed = keys("list", env={"FAPIAO_MASTER_KEY": new})
        assert listed.returncode == 0 and listed.stdout.count(new_master.fingerprint) == 2, listed

        alone = Keyring(new_master)
        prepare_keys(url, alone)
        assert [alone.open_invoice(row)["buyer_name"] for row in rows] == names
        with pytest.raises(MasterKeyMismatch):
            prepare_keys(url, Keyring(MasterKey(base64.b64decode(old))))
        (server,) = start_servers(url, redis_url, 1, settings={"FAPIAO_MASTER_KEY": new})
        stop_servers([server])
