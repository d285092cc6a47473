"""A private certificate authority for TLS tests, written as PEM files: the register's own certificate code
(fapiao_server.security.certificates, what `fapiao dev-certs` uses), so the tests exercise the certificates users
get. Server certificates are for localhost and 127.0.0.1; a client certificate's common name maps to a principal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fapiao_server.security.certificates import CertificateAuthority as Authority


@dataclass(frozen=True)
class Issued:
    certificate: Path
    key: Path


class CertificateAuthority:
    def __init__(self, folder: Path, name: str = "Fapiao test CA") -> None:
        self.folder = folder
        self._authority = Authority.create(name, days=2)
        self.certificate = folder / f"{name.replace(' ', '-')}.pem"
        self.certificate.write_bytes(self._authority.certificate_pem)

    def issue(self, common_name: str, *, server: bool) -> Issued:
        made = (
            self._authority.issue_server([common_name, "localhost", "127.0.0.1"], days=1)
            if server
            else self._authority.issue_client(common_name, days=1)
        )
        issued = Issued(self.folder / f"{common_name}.pem", self.folder / f"{common_name}.key")
        issued.certificate.write_bytes(made.certificate)
        issued.key.write_bytes(made.key)
        issued.key.chmod(0o600)
        return issued

    def serving_settings(self, served: Issued, mtls_listen: str) -> dict[str, str]:
        """The settings of a register that serves TLS with ``served`` and mutual TLS on ``mtls_listen`` to clients
        whose certificates this authority signed."""
        return {
            "FAPIAO_TLS_CERT_FILE": str(served.certificate),
            "FAPIAO_TLS_KEY_FILE": str(served.key),
            "FAPIAO_MTLS_LISTEN": mtls_listen,
            "FAPIAO_MTLS_CLIENT_CA_FILE": str(self.certificate),
        }
