"""X.509 certificates for TLS and mutual TLS: a private certificate authority, the server certificates it issues
(names typed as DNS names or IP addresses, as clients check them) and client certificates whose common name is a
principal's ``certificate_name`` (the mutual-TLS listener names the caller by it)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Leaves are re-issued easily; a CA is what everyone was told to trust, so it lasts longer.
CA_DAYS = 5 * 365
LEAF_DAYS = 365
# Tolerates a client whose clock is a little behind the issuer's.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, as PEM."""

    certificate: bytes
    key: bytes


def subject_alternative_name(host: str) -> x509.GeneralName:
    """``host`` as the kind of name TLS clients compare it with: an IP address target is checked against IP
    address entries only, a host name against DNS entries, so "127.0.0.1" as a DNS name would never match."""
    bare = host.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        return x509.IPAddress(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not bare or any(c.isspace() or c in "/@:" for c in bare):
        raise ValueError(f"{host!r} is neither a host name nor an IP address")
    return x509.DNSName(bare.lower())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _key_usage(*, certificates: bool) -> x509.KeyUsage:
    """A CA signs certificates only; a leaf signs handshakes only (ECDSA keys never encipher keys)."""
    flags = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"), False
    )
    return x509.KeyUsage(
        digital_signature=not certificates,
        key_cert_sign=certificates,
        crl_sign=certificates,
        decipher_only=False,
        **flags,
    )


class CertificateAuthority:
    """A self-signed CA (ECDSA P-256) that signs server and client certificates."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self.certificate = certificate

    @classmethod
    def create(cls, name: str = "Fapiao development CA", *, days: int = CA_DAYS) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = _name(name, "Fapiao")
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(certificates=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _pem_key(self._key)

    def issue_server(self, hosts: Iterable[str], *, days: int = LEAF_DAYS) -> Issued:
        """A certificate for a server reached by any of ``hosts`` (host names or IP addresses); the first is its
        common name, which clients no longer look at but people reading the certificate do."""
        names = list(dict.fromkeys(hosts))
        if not names:
            raise ValueError("a server certificate needs at least one host name or address")
        alternatives = [subject_alternative_name(host) for host in names]
        return self._issue(names[0], ExtendedKeyUsageOID.SERVER_AUTH, alternatives, days=days)

    def issue_client(self, certificate_name: str, *, days: int = LEAF_DAYS) -> Issued:
        """A certificate for the principal whose ``certificate_name`` is ``certificate_name``: the mutual-TLS
        listener reads the subject common name and nothing else."""
        if not 1 <= len(certificate_name) <= 64:
            # 64 characters: the longest common name X.509 allows (RFC 5280 ub-common-name).
            raise ValueError(f"a client certificate name must be 1-64 characters, not {len(certificate_name)}")
        return self._issue(certificate_name, ExtendedKeyUsageOID.CLIENT_AUTH, [], days=days)

    def _issue(
        self, common_name: str, usage: x509.ObjectIdentifier, alternatives: list[x509.GeneralName], *, days: int
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        not_after = min(now + datetime.timedelta(days=days), self.certificate.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if alternatives:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return Issued(certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key))
