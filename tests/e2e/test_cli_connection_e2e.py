"""What `fapiao` says when it cannot talk to the register, against real servers (a TLS one with a mutual-TLS
listener, and the plaintext one of the session): one line naming the target, the likely cause and the fix, exit
status 9 (a refused call has its own); credentials it does not have; and a reader that stops reading early."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.certificates import CertificateAuthority
from tests.support.server import ServerProcess, fapiao_executable
from tests.support.services import free_port

pytestmark = pytest.mark.slow
UNREACHABLE = 9


@dataclass(frozen=True)
class Secured:
    address: str
    mtls_address: str
    ca: Path
    foreign_ca: Path


@pytest.fixture(scope="module")
def secured(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("cli-tls")
    ca = CertificateAuthority(folder)
    served = ca.issue("localhost", server=True)
    foreign = CertificateAuthority(folder, "Another CA")
    mtls_address = f"127.0.0.1:{free_port()}"
    server = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            **ca.serving_settings(served, mtls_address),
            "FAPIAO_LOG_LEVEL": "WARNING",
        },
    ).start()
    yield Secured(server.address, mtls_address, ca.certificate, foreign.certificate)
    server.stop()


def fapiao(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(fapiao_executable()), *args], capture_output=True, text=True, timeout=60, env=env, input=stdin
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """The one line the command said, checking that it said one line and exited 9."""
    assert result.returncode == UNREACHABLE, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_plaintext_to_a_tls_server_says_to_pass_its_ca(secured: Secured) -> None:
    line = said(fapiao("whoami", "--target", secured.address))
    assert line == (
        f"fapiao whoami: the server at {secured.address} speaks TLS: pass --ca-cert FILE (the CA of its "
        "certificate), or --tls if a public CA signed it"
    )
    assert fapiao("whoami", "--target", secured.address, "--ca-cert", str(secured.ca)).returncode == 0


def test_tls_to_a_plaintext_server_says_to_leave_tls_out(server: ServerProcess, secured: Secured) -> None:
    line = said(fapiao("whoami", "--target", server.address, "--ca-cert", str(secured.ca)))
    assert line.startswith(f"fapiao whoami: the server at {server.address} does not speak TLS: leave out --tls")


def test_an_untrusted_certificate_says_which_ca_to_pass(secured: Secured) -> None:
    line = said(fapiao("whoami", "--target", secured.address, "--ca-cert", str(secured.foreign_ca)))
    assert f"the server at {secured.address} speaks TLS with a certificate not signed by the CA in" in line
    assert "pass --ca-cert FILE" in line
    public = said(fapiao("whoami", "--target", secured.address, "--tls"))
    assert "not signed by the public CAs: pass --ca-cert FILE" in public


def test_the_mutual_tls_listener_says_it_wants_a_client_certificate(secured: Secured) -> None:
    line = said(fapiao("whoami", "--target", secured.mtls_address, "--ca-cert", str(secured.ca)))
    assert "wants a client certificate; pass --client-cert FILE --client-key FILE" in line
    plaintext = said(fapiao("whoami", "--target", secured.mtls_address))
    assert f"the server at {secured.mtls_address} speaks TLS" in plaintext


def test_nothing_listening_is_not_a_refused_call(server: ServerProcess) -> None:
    port = free_port()
    line = said(fapiao("verify", "--target", f"127.0.0.1:{port}", "--qr", "x"))
    assert f"could not reach 127.0.0.1:{port}: connection refused; is `fapiao serve` running there" in line
    ipv6 = said(fapiao("whoami", "--target", f"[::1]:{port}"))  # brackets still name an IPv6 address and port
    assert f"could not reach [::1]:{port}:" in ipv6
    no_host = said(fapiao("whoami", "--target", "no-such-host.invalid"))
    assert "could not reach no-such-host.invalid:50051: there is no host named 'no-such-host.invalid'" in no_host
    as_json = fapiao("whoami", "--target", f"127.0.0.1:{port}", "--json")
    assert as_json.returncode == UNREACHABLE and '"code": "UNAVAILABLE"' in as_json.stdout
    refused = fapiao("admin", "principals", "list", "--target", server.address)  # reached, and refused: 7
    assert refused.returncode == 7, refused.stderr


def test_no_credentials_says_how_to_get_some(server: ServerProcess, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")} | {"XDG_CONFIG_HOME": str(tmp_path)}
    result = fapiao("whoami", "--target", server.address, env=env)
    assert result.returncode == 7
    expected = (
        "fapiao whoami: no credentials: set FAPIAO_TOKEN to an API key, or run `fapiao login` (it keeps a session "
        f"in {tmp_path / 'fapiao' / 'credentials.json'}); a government system presents --client-cert and --client-key"
    )
    assert expected in result.stderr.splitlines(), result.stderr
    assert "authorization" not in result.stderr  # the CLI's terms, not the protocol's
    wrong = fapiao("whoami", "--target", server.address, env={**env, "FAPIAO_TOKEN": "fpk_not-a-key"})
    assert wrong.returncode == 7
    assert "does not accept the API key or token in FAPIAO_TOKEN: set FAPIAO_TOKEN to a current API key" in wrong.stderr


def test_a_reader_that_stops_early_gets_no_traceback(server: ServerProcess, tmp_path: Path) -> None:
    rows = tmp_path / "many.csv"  # far more output than a pipe holds, so the writer meets the closed pipe
    rows.write_text("code,number,date\n" + "1100231130,00000001,not-a-date\n" * 5000, encoding="utf-8")
    writer = subprocess.Popen(
        [str(fapiao_executable()), "verify-batch", str(rows), "--target", server.address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout is not None and writer.stderr is not None
    reader = subprocess.run(["head", "-n", "1"], stdin=writer.stdout, capture_output=True, text=True, timeout=60)
    writer.stdout.close()  # only head holds the pipe's reading end now
    status, errors = writer.wait(timeout=60), writer.stderr.read()
    assert reader.stdout.startswith("row,invoice_code")
    assert status == 141, errors
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
