"""The PEM files the server's TLS is configured with: read and checked before anything starts, so a wrong path or
file is one line naming the setting instead of a traceback from deep inside gRPC (or a server that starts and
then fails every handshake); and the CA a client should trust for them, for the commands the server prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


class TlsFileError(ValueError):
    """A configured TLS file that cannot be used; the message is ``SETTING=PATH: what is wrong``."""

    def __init__(self, setting: str, path: Path, problem: str) -> None:
        super().__init__(f"{setting}={path}: {problem}")


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsFileError(setting, path, "no such file") from None
    except IsADirectoryError:
        raise TlsFileError(setting, path, "is a directory, not a PEM file") from None
    except PermissionError:
        raise TlsFileError(setting, path, "cannot be read by this user (permission denied)") from None
    except OSError as error:
        raise TlsFileError(setting, path, f"cannot be read ({error.strerror})") from None


def read_certificates(setting: str, path: Path) -> list[x509.Certificate]:
    """The certificates of a PEM file, in their order (leaf first for a chain)."""
    data = _read(setting, path)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        hint = (
            " (a DER file? convert it: openssl x509 -inform der -in FILE -out FILE.pem)" if b"-----" not in data else ""
        )
        raise TlsFileError(setting, path, f"not a PEM certificate: no -----BEGIN CERTIFICATE----- block{hint}")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsFileError(setting, path, "holds a damaged PEM certificate") from None


def read_private_key(setting: str, path: Path) -> Any:
    data = _read(setting, path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography's way of saying "encrypted, and no password given"
        raise TlsFileError(
            setting, path, "the key is encrypted; the server needs it unencrypted (openssl pkey -in KEY -out PLAIN)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsFileError(setting, path, "not a PEM private key") from None


def _public(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_tls_files(settings: Any) -> list[str]:
    """What is wrong with the configured certificate, key and client CA files, one line each; empty when they
    can be served."""
    problems = []
    chain = key = None
    if settings.tls_cert_file is not None:
        try:
            chain = read_certificates("FAPIAO_TLS_CERT_FILE", settings.tls_cert_file)
        except TlsFileError as error:
            problems.append(str(error))
    if settings.tls_key_file is not None:
        try:
            key = read_private_key("FAPIAO_TLS_KEY_FILE", settings.tls_key_file)
        except TlsFileError as error:
            problems.append(str(error))
    if chain and key is not None and _public(key.public_key()) != _public(chain[0].public_key()):
        problems.append(
            f"FAPIAO_TLS_KEY_FILE={settings.tls_key_file}: not the key of the certificate in FAPIAO_TLS_CERT_FILE="
            f"{settings.tls_cert_file} (the first certificate there must be the server's own)"
        )
    if settings.mtls_listen is not None and settings.mtls_client_ca_file is not None:
        try:
            read_certificates("FAPIAO_MTLS_CLIENT_CA_FILE", settings.mtls_client_ca_file)
        except TlsFileError as error:
            problems.append(str(error))
    return problems


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def trust_anchor(certificate_file: Path) -> Path | None:
    """The file a client should pass as its CA (``--ca-cert``) to trust the server's certificate file, when it can
    be found: the file itself when its chain ends in a self-signed certificate, else a PEM file beside it (as
    `fapiao dev-certs` writes ca.pem next to server.pem) holding the certificate that signed the chain's last.
    None when neither: the CA is somewhere only its owner knows."""
    try:
        chain = x509.load_pem_x509_certificates(certificate_file.read_bytes())
    except (OSError, ValueError):
        return None
    last = chain[-1]
    if last.issuer == last.subject and _issued_by(last, last):
        return certificate_file
    for candidate in sorted(certificate_file.parent.glob("*.pem")) + sorted(certificate_file.parent.glob("*.crt")):
        if candidate == certificate_file:
            continue
        try:
            found = x509.load_pem_x509_certificates(candidate.read_bytes())
        except (OSError, ValueError):
            continue
        if any(ca.subject == last.issuer and _issued_by(last, ca) for ca in found):
            return candidate
    return None


def certificate_names(certificate_file: Path) -> list[str]:
    """The names and addresses the server certificate is for (its subject alternative names), in its order."""
    try:
        leaf = x509.load_pem_x509_certificates(certificate_file.read_bytes())[0]
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return []
    return [str(name.value) for name in names if isinstance(name, x509.DNSName | x509.IPAddress)]
