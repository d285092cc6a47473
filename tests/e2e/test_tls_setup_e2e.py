"""TLS and mutual TLS set up the ways the docs say, against real servers: `fapiao dev-certs` and the commands it
prints, pasted as they are."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.provisioning import provision
from tests.support.keys import shared_keyring
from tests.support.server import ServerProcess, fapiao_executable
from tests.support.services import free_port

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
