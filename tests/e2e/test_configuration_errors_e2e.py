"""A configuration `fapiao serve`, `migrate` or `seed` cannot use ends it at once with one line saying what is
wrong and what to do, exit status 2: no traceback, and never a password, whichever setting is wrong."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from psycopg.conninfo import conninfo_to_dict

from fapiao_server.entrypoints.dev_certs_cli import write_dev_certificates
from tests.support.server import fapiao_executable
from tests.support.services import free_port

pytestmark = pytest.mark.slow
PASSWORD = "s3cret-Pa55word"
COMMANDS = [("serve", "--listen", "127.0.0.1:0"), ("migrate",), ("seed", "--invoices", "1")]


def _fapiao(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), FAPIAO_DATA_DIR=str(tmp_path / "data"), **settings)
    return subprocess.run([str(fapiao_executable()), *args], capture_output=True, text=True, timeout=60, env=env)


def _refused_in_one_line(result: subprocess.CompletedProcess[str]) -> str:
    said = result.stdout + result.stderr
    assert result.returncode == 2, said
    assert "Traceback" not in said and PASSWORD not in said, said
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fapiao: "), said
    return lines[0]


def _url_with_password(admin_url: str, dbname: str) -> str:
    """The admin URL's server and user, with a password (trust authentication ignores it) and another database."""
    parts = conninfo_to_dict(admin_url)
    user, host, port = parts.get("user") or "postgres", parts.get("host") or "localhost", parts.get("port") or 5432
    if str(host).startswith("/"):  # a socket folder (the tests' own PostgreSQL)
        return f"postgresql://{user}:{PASSWORD}@/{dbname}?host={host}&port={port}"
    return f"postgresql://{user}:{PASSWORD}@{host}:{port}/{dbname}"


# --- a database that is missing or does not answer ---------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_database_is_named_with_how_to_create_it(
    pg_admin_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    name = f"fapiao_missing_{uuid.uuid4().hex[:8]}"
    url = _url_with_password(pg_admin_url, name)
    line = _refused_in_one_line(_fapiao(tmp_path, *command, FAPIAO_DATABASE_URL=url))
    parts = conninfo_to_dict(url)
    assert f'database "{name}" does not exist' in line
    assert f"createdb -h {parts['host']} -p {parts['port']}" in line and "CREATE DATABASE" in line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_that_refuses_connections_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://fapiao:{PASSWORD}@127.0.0.1:{port}/fapiao"
    line = _refused_in_one_line(_fapiao(tmp_path, *command, FAPIAO_DATABASE_URL=url))
    assert f"nothing answers at 127.0.0.1:{port} (connection refused)" in line
    assert "postgresql://fapiao@127.0.0.1" in line  # the database, named without its password


# --- settings that cannot be used, beside a database URL with a password ------------------------------------------


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"FAPIAO_DATABASE_URL": f"notaurl://fapiao:{PASSWORD}@db"}, "FAPIAO_DATABASE_URL: not a PostgreSQL URL"),
        ({"FAPIAO_DATABASE_URL": f"host=db user=fapiao password={PASSWORD} dbname"}, "FAPIAO_DATABASE_URL: not a"),
        ({"FAPIAO_WORKERS": "many"}, "FAPIAO_WORKERS: Input should be a valid integer"),
        ({"FAPIAO_CACHE": "maybe"}, "FAPIAO_CACHE: Input should be 'on' or 'off'"),
        ({"FAPIAO_LISTEN": "0.0.0.0:50051"}, "plaintext on 0.0.0.0:50051 would carry credentials in the clear"),
        ({"FAPIAO_TLS_CERT_FILE": "/nowhere/server.pem"}, "FAPIAO_TLS_CERT_FILE and FAPIAO_TLS_KEY_FILE go together"),
        ({"FAPIAO_REDIS_URL": f"http://:{PASSWORD}@cache:6379/0"}, "FAPIAO_REDIS_URL: must be redis://"),
        ({"FAPIAO_LOG_LEVEL": "loud"}, "Unknown level"),
    ],
    ids=["url", "conninfo", "workers", "cache", "plaintext", "tls-pair", "redis", "log-level"],
)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_no_bad_setting_shows_the_database_password(
    tmp_path: Path, command: tuple[str, ...], settings: dict[str, str], said: str
) -> None:
    if "FAPIAO_LISTEN" in settings and command[0] == "serve":
        command = ("serve",)  # --listen would override the setting under test
    if ("FAPIAO_LISTEN" in settings or "TLS" in str(settings)) and command[0] != "serve":
        pytest.skip("a listening setting only matters to serve")
    database = {"FAPIAO_DATABASE_URL": f"postgresql://fapiao:{PASSWORD}@127.0.0.1:{free_port()}/fapiao"}
    line = _refused_in_one_line(_fapiao(tmp_path, *command, **{**database, **settings}))
    assert said in line


# --- TLS files, checked before anything starts ---------------------------------------------------------------------


def _tls_cases(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    ours = write_dev_certificates(tmp_path / "ours", ["localhost"], [])
    other = write_dev_certificates(tmp_path / "other", ["localhost"], [])
    certificate, key = (str(p) for p in ours.server)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x30\x82\x01\x0a not PEM at all")
    encrypted = tmp_path / "encrypted-key.pem"
    loaded = serialization.load_pem_private_key(ours.server[1].read_bytes(), password=None)
    encrypted.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )  # fmt: skip
    missing = str(tmp_path / "missing.pem")
    mtls = {"FAPIAO_MTLS_LISTEN": "127.0.0.1:0", "FAPIAO_MTLS_CLIENT_CA_FILE": str(ours.ca)}
    return {
        "missing-certificate": (
            {"FAPIAO_TLS_CERT_FILE": missing, "FAPIAO_TLS_KEY_FILE": key},
            f"fapiao: FAPIAO_TLS_CERT_FILE={missing}: no such file",
        ),
        "key-is-a-folder": (
            {"FAPIAO_TLS_CERT_FILE": certificate, "FAPIAO_TLS_KEY_FILE": str(tmp_path)},
            f"fapiao: FAPIAO_TLS_KEY_FILE={tmp_path}: is a directory, not a PEM file",
        ),
        "certificate-not-pem": (
            {"FAPIAO_TLS_CERT_FILE": str(garbage), "FAPIAO_TLS_KEY_FILE": key},
            f"fapiao: FAPIAO_TLS_CERT_FILE={garbage}: not a PEM certificate",
        ),
        "key-not-pem": (
            {"FAPIAO_TLS_CERT_FILE": certificate, "FAPIAO_TLS_KEY_FILE": certificate},
            f"fapiao: FAPIAO_TLS_KEY_FILE={certificate}: not a PEM private key",
        ),
        "key-encrypted": (
            {"FAPIAO_TLS_CERT_FILE": certificate, "FAPIAO_TLS_KEY_FILE": str(encrypted)},
            f"fapiao: FAPIAO_TLS_KEY_FILE={encrypted}: the key is encrypted",
        ),
        "key-of-another-certificate": (
            {"FAPIAO_TLS_CERT_FILE": certificate, "FAPIAO_TLS_KEY_FILE": str(other.server[1])},
            f"fapiao: FAPIAO_TLS_KEY_FILE={other.server[1]}: not the key of the certificate in FAPIAO_TLS_CERT_FILE",
        ),
        "missing-client-ca": (
            {
                "FAPIAO_TLS_CERT_FILE": certificate,
                "FAPIAO_TLS_KEY_FILE": key,
                **mtls,
                "FAPIAO_MTLS_CLIENT_CA_FILE": missing,
            },
            f"fapiao: FAPIAO_MTLS_CLIENT_CA_FILE={missing}: no such file",
        ),
    }


CASES = [
    "missing-certificate", "key-is-a-folder", "certificate-not-pem", "key-not-pem", "key-encrypted",
    "key-of-another-certificate", "missing-client-ca",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_an_unusable_tls_file_is_one_line_before_anything_starts(tmp_path: Path, case: str) -> None:
    settings, said = _tls_cases(tmp_path)[case]
    # A database that does not answer: had the files been read after it, its complaint would come first.
    database = {"FAPIAO_DATABASE_URL": f"postgresql://fapiao:{PASSWORD}@127.0.0.1:{free_port()}/fapiao"}
    line = _refused_in_one_line(_fapiao(tmp_path, "serve", "--listen", "127.0.0.1:0", **database, **settings))
    assert line.startswith(said), line
    assert not (tmp_path / "data").exists()  # nothing was made, not even the data folder


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_key_is_one_line(tmp_path: Path) -> None:
    ours = write_dev_certificates(tmp_path / "ours", ["localhost"], [])
    ours.server[1].chmod(0)
    database = {"FAPIAO_DATABASE_URL": f"postgresql://fapiao:{PASSWORD}@127.0.0.1:{free_port()}/fapiao"}
    tls = {"FAPIAO_TLS_CERT_FILE": str(ours.server[0]), "FAPIAO_TLS_KEY_FILE": str(ours.server[1])}
    line = _refused_in_one_line(_fapiao(tmp_path, "serve", "--listen", "127.0.0.1:0", **database, **tls))
    assert line == f"fapiao: FAPIAO_TLS_KEY_FILE={ours.server[1]}: cannot be read by this user (permission denied)"
