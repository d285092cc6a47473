"""TLS and mutual TLS set up the ways the docs say, against real servers: `fapiao dev-certs` and the commands it
prints, pasted as they are; and docs/security.md's OpenSSL recipe, settings and calls, run as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.entrypoints.provisioning import provision
from fapiao_server.storage.migrations import migrate
from tests.support.access import principal_key
from tests.support.keys import shared_keyring
from tests.support.server import ServerProcess, fapiao_executable
from tests.support.services import free_port, fresh_database

DOCS = Path(__file__).parents[2] / "docs" / "security.md"

pytestmark = pytest.mark.slow


def _user_env(tmp_path: Path, token: str | None) -> dict[str, str]:
    """A shell of a user with no FAPIAO_* settings and no stored login; ``token`` as FAPIAO_TOKEN when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return {**env, "FAPIAO_TOKEN": token} if token else env


def _certificate_principal(database_url: str, name: str) -> None:
    account = PrincipalAccount(Principal(name, Role.VERIFIER, display_name="a ministry"), certificate_name=name)
    provision(database_url, shared_keyring(database_url), [account], description="TLS set-up test")


def _run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, env=env)


def test_dev_certs_serve_tls_and_mutual_tls_as_printed(database_url: str, verifier_key: str, tmp_path: Path) -> None:
    name = f"gov-{uuid.uuid4().hex[:8]}"
    tls, mtls = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    made = subprocess.run(
        [str(fapiao_executable()), "dev-certs", "--dir", str(tmp_path / "certs"), "--client", name,
         "--listen", tls, "--mtls-listen", mtls],
        capture_output=True, text=True, timeout=60, env=_user_env(tmp_path, None),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    printed = made.stdout
    exports = {k: shlex.split(v)[0] for k, v in re.findall(r"^  export (FAPIAO_\w+)=(.+)$", printed, re.MULTILINE)}
    assert set(exports) == {
        "FAPIAO_LISTEN", "FAPIAO_TLS_CERT_FILE", "FAPIAO_TLS_KEY_FILE", "FAPIAO_MTLS_LISTEN",
        "FAPIAO_MTLS_CLIENT_CA_FILE",
    }  # fmt: skip
    assert exports["FAPIAO_MTLS_CLIENT_CA_FILE"] == str(tmp_path / "certs" / "ca.pem")
    tls_call, mtls_call = (line.strip() for line in printed.splitlines() if " whoami --target " in line)
    assert f"--ca-cert {tmp_path / 'certs' / 'ca.pem'}" in tls_call and "--client-cert" not in tls_call
    assert f"client-{name}.pem" in mtls_call and f"client-{name}-key.pem" in mtls_call

    _certificate_principal(database_url, name)
    server = ServerProcess(env={"FAPIAO_DATABASE_URL": database_url, "FAPIAO_LOG_LEVEL": "WARNING", **exports})
    server.start()
    try:
        assert server.address == tls
        answered = _run(tls_call, _user_env(tmp_path, verifier_key))  # TLS, trusting ca.pem; the key names the caller
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.startswith("e2e-verifier (VERIFIER)")
        answered = _run(mtls_call, _user_env(tmp_path, None))  # no token: the certificate names the caller
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.startswith(f"{name} (VERIFIER)")
        untrusting = _run(tls_call.split(" --ca-cert ")[0] + " --ca-cert /etc/ssl/certs/ca-certificates.crt",
                          _user_env(tmp_path, verifier_key))  # fmt: skip
        assert untrusting.returncode != 0  # the system's CAs do not vouch for a development certificate
    finally:
        server.stop()


def _doc_blocks() -> list[str]:
    """The shell blocks of docs/security.md's TLS section, backslash-continued lines joined."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## TLS and mutual TLS\n", 1)[1].split("\n## ", 1)[0]
    return [block.replace("\\\n", " ") for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def _block(containing: str) -> str:
    (found,) = [block for block in _doc_blocks() if containing in block]
    return found


def _buf() -> str | None:
    tools = Path(os.environ.get("FAPIAO_CI_TOOLS", Path.home() / ".cache" / "fapiao-ci")) / "node_modules" / ".bin"
    return shutil.which("buf") or shutil.which("buf", path=str(tools))


@pytest.fixture
def empty_register(pg_admin_url: str) -> Iterator[str]:
    """A register of its own: the recipe's client name (gov-1) is a certificate_name, unique in a register."""
    with fresh_database(pg_admin_url, "tlsdocs") as url:
        migrate(url, today=business_date(utc_now()))
        yield url


def test_the_openssl_recipe_of_the_docs_serves_tls_and_mutual_tls(empty_register: str, tmp_path: Path) -> None:
    recipe = _block("openssl req")
    made = subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    for key in ("ca-key.pem", "server-key.pem", "client-gov-1-key.pem"):
        assert (tmp_path / key).stat().st_mode & 0o077 == 0, key

    # The settings block as written, in that folder; only the ports are ours (the docs' may be taken here).
    settings = "\n".join(
        line for line in _block("export FAPIAO_TLS_CERT_FILE").splitlines() if line.startswith("export")
    )
    shown = subprocess.run(["bash", "-euc", f"{settings}\nenv"], cwd=tmp_path, capture_output=True, text=True,
                           env=_user_env(tmp_path, None), timeout=10)  # fmt: skip
    env = dict(line.split("=", 1) for line in shown.stdout.splitlines() if line.startswith("FAPIAO_"))
    assert set(env) == {
        "FAPIAO_TLS_CERT_FILE",
        "FAPIAO_TLS_KEY_FILE",
        "FAPIAO_MTLS_LISTEN",
        "FAPIAO_MTLS_CLIENT_CA_FILE",
    }
    tls, mtls = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    ports = {"127.0.0.1:50051": tls, env["FAPIAO_MTLS_LISTEN"]: mtls}

    account = PrincipalAccount(Principal("gov-1", Role.VERIFIER, display_name="a ministry"), certificate_name="gov-1")
    provision(empty_register, shared_keyring(empty_register), [account], description="TLS docs test")
    token = principal_key(empty_register, Role.VERIFIER, principal_id="docs-verifier")
    server = ServerProcess(env={**env, "FAPIAO_LISTEN": tls, "FAPIAO_MTLS_LISTEN": mtls,
                                "FAPIAO_DATABASE_URL": empty_register, "FAPIAO_LOG_LEVEL": "WARNING"})  # fmt: skip
    server.start()
    calls = [line for line in _block("whoami").splitlines() if line.strip()]
    path = f"{fapiao_executable().parent}{os.pathsep}{os.environ['PATH']}"
    if buf := _buf():
        path = f"{Path(buf).parent}{os.pathsep}{path}"
    ran = []
    try:
        for call in calls:
            tool = call.split()[0]
            if tool != "fapiao" and not shutil.which(tool, path=path):
                continue  # grpcurl or buf is not installed here
            for documented, ours in ports.items():
                call = call.replace(documented, ours)
            mutual = "client-gov-1.pem" in call
            # A token, when sent, would name the caller on the mutual-TLS listener too: the certificate calls go
            # without one, as from a government system that has only its certificate.
            env = {**_user_env(tmp_path, None if mutual else token), "PATH": path}
            answered = subprocess.run(["bash", "-c", call], cwd=tmp_path, capture_output=True, text=True,
                                      env=env, timeout=60)  # fmt: skip
            assert answered.returncode == 0, f"{call}\n{answered.stdout}{answered.stderr}"
            caller = "gov-1" if mutual else "docs-verifier"
            if tool == "fapiao":
                assert answered.stdout.startswith(f"{caller} (VERIFIER)"), answered.stdout
            else:
                assert f'"id": "{caller}"' in answered.stdout, answered.stdout
            ran.append(tool)
    finally:
        server.stop()
    assert ran.count("fapiao") == 2, ran
    assert ran.count("buf") == (2 if buf else 0), ran


def test_the_demo_banner_of_a_tls_server_prints_commands_that_work_as_pasted(pg_admin_url: str, tmp_path: Path) -> None:
    """`fapiao serve --demo` on `fapiao dev-certs` files: the commands carry --ca-cert with the CA beside the
    server's certificate, and the banner names the mutual-TLS listener."""
    certificates = tmp_path / "certs"
    made = subprocess.run([str(fapiao_executable()), "dev-certs", "--dir", str(certificates)],
                          capture_output=True, text=True, timeout=60, env=_user_env(tmp_path, None))  # fmt: skip
    assert made.returncode == 0, made.stderr
    user = _user_env(tmp_path, None)
    mtls = f"127.0.0.1:{free_port()}"
    tls = {
        "FAPIAO_TLS_CERT_FILE": str(certificates / "server.pem"),
        "FAPIAO_TLS_KEY_FILE": str(certificates / "server-key.pem"),
        "FAPIAO_MTLS_LISTEN": mtls, "FAPIAO_MTLS_CLIENT_CA_FILE": str(certificates / "ca.pem"),
    }  # fmt: skip
    with fresh_database(pg_admin_url, "tlsdemo") as url:
        demo = ServerProcess("--demo", "--listen", "127.0.0.1:0",
                             env={**user, **tls, "FAPIAO_DATABASE_URL": url, "FAPIAO_LOG_LEVEL": "WARNING",
                                  "FAPIAO_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
        demo.start(timeout=180)
        try:
            deadline = time.monotonic() + 10
            while "invoice events --target" not in demo.output():  # the banner's last line
                assert time.monotonic() < deadline, demo.output()
                time.sleep(0.1)
            printed = demo.output()
            assert f"mutual TLS: {mtls}" in printed, printed
            commands = [line.strip() for line in printed.splitlines() if " --target " in line]
            assert len(commands) == 3, printed
            for command in commands:
                assert f"--ca-cert {certificates / 'ca.pem'}" in command, command
                answered = _run(command, user)  # the demo left the taxpayer's key where this user's CLI looks
                assert answered.returncode == 0, f"{command}\n{answered.stdout}{answered.stderr}"
            assert "MATCH" in _run(commands[0], user).stdout
        finally:
            demo.stop()
