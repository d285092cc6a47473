"""`fapiao dev-certs`' files: names typed as clients check them, the CA's and leaves' usages, private keys that no
one else can read, and files that are never replaced unless asked."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fapiao_server.entrypoints.dev_certs_cli import write_dev_certificates
from fapiao_server.security.certificates import subject_alternative_name


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_names_are_dns_names_or_ip_addresses_as_clients_compare_them() -> None:
    assert subject_alternative_name("localhost") == x509.DNSName("localhost")
    assert subject_alternative_name("Fapiao.Example.CN") == x509.DNSName("fapiao.example.cn")
    assert subject_alternative_name("127.0.0.1") == x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    assert subject_alternative_name("::1") == x509.IPAddress(ipaddress.ip_address("::1"))
    assert subject_alternative_name("[::1]") == x509.IPAddress(ipaddress.ip_address("::1"))
    with pytest.raises(ValueError):
        subject_alternative_name("host:50051")


def test_the_files_a_server_and_its_clients_need(tmp_path: Path) -> None:
    written = write_dev_certificates(tmp_path / "certs", ["localhost", "127.0.0.1", "::1"], ["gov-1"])
    ca, (server, server_key), (client, client_key) = written.ca, written.server, written.client("gov-1")
    assert sorted(p.name for p in written.folder.iterdir()) == sorted(
        ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client-gov-1.pem", "client-gov-1-key.pem"]
    )
    for key in (written.folder / "ca-key.pem", server_key, client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    authority = _certificate(ca)
    assert authority.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert authority.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    served = _certificate(server)
    served.verify_directly_issued_by(authority)
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    usage = served.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    caller = _certificate(client)
    caller.verify_directly_issued_by(authority)
    assert caller.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gov-1"
    assert list(caller.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    first = write_dev_certificates(tmp_path, ["localhost"], [])
    before = first.ca.read_bytes()
    with pytest.raises(FileExistsError) as refused:
        write_dev_certificates(tmp_path, ["localhost"], ["gov-1"])
    assert str(first.ca) in str(refused.value)
    assert first.ca.read_bytes() == before and not (tmp_path / "client-gov-1.pem").exists()
    again = write_dev_certificates(tmp_path, ["localhost"], ["gov-1"], force=True)
    assert again.ca.read_bytes() != before and (tmp_path / "client-gov-1.pem").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_a_client_name_that_cannot_be_a_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        write_dev_certificates(tmp_path, ["localhost"], ["../escape"])
    assert list(tmp_path.iterdir()) == []
