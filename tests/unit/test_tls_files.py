"""The CA a client must trust for the server's certificate file, as the banner's commands name it (`--ca-cert`),
and the names the certificate is for."""

from __future__ import annotations

from pathlib import Path

from fapiao_server.entrypoints.dev_certs_cli import write_dev_certificates
from fapiao_server.security.certificates import CertificateAuthority
from fapiao_server.security.tls_files import certificate_names, trust_anchor


def test_the_ca_beside_a_dev_certs_server_certificate(tmp_path: Path) -> None:
    written = write_dev_certificates(tmp_path, ["localhost", "127.0.0.1"], ["gov-1"])
    assert trust_anchor(written.server[0]) == written.ca  # not client-gov-1.pem, which the CA signed too
    assert certificate_names(written.server[0]) == ["localhost", "127.0.0.1"]


def test_a_chain_ending_in_its_root_is_its_own_anchor(tmp_path: Path) -> None:
    ca = CertificateAuthority.create()
    chain = tmp_path / "chain.pem"
    chain.write_bytes(ca.issue_server(["fapiao.example.cn"]).certificate + ca.certificate_pem)
    assert trust_anchor(chain) == chain
    lone = tmp_path / "ca.pem"
    lone.write_bytes(ca.certificate_pem)
    assert trust_anchor(lone) == lone  # a self-signed certificate is trusted as itself


def test_no_anchor_when_the_ca_is_elsewhere(tmp_path: Path) -> None:
    signer, stranger = CertificateAuthority.create(), CertificateAuthority.create()
    (tmp_path / "server.pem").write_bytes(signer.issue_server(["localhost"]).certificate)
    (tmp_path / "ca.pem").write_bytes(stranger.certificate_pem)  # same subject, another key
    (tmp_path / "notes.pem").write_text("not a certificate")
    assert trust_anchor(tmp_path / "server.pem") is None
    assert trust_anchor(tmp_path / "missing.pem") is None
