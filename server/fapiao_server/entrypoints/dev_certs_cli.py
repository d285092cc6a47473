"""`fapiao dev-certs`: a private CA, a server certificate and client certificates for trying TLS and mutual TLS,
written to one folder, with the settings and client flags that use them printed ready to paste."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fapiao_client.cli.examples import examples

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_LISTEN = "127.0.0.1:50051"
# A client's name is also part of its file names: letters, digits and . _ - keep it one plain path component.
FILE_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
UNSPECIFIED = {"", "0.0.0.0", "::", "[::]"}


def add_command(commands: Any) -> None:
    certs = commands.add_parser(
        "dev-certs",
        help="make a development CA, server and client certificates for TLS and mutual TLS",
        description="Writes ca.pem / ca-key.pem, server.pem / server-key.pem and client-NAME.pem / "
        "client-NAME-key.pem (keys 0600) and prints the `fapiao serve` settings and client flags that use them. "
        "For development and tests: production certificates come from your own PKI (docs/security.md).",
        **examples(
            "fapiao dev-certs                               # ./fapiao-certs for localhost, 127.0.0.1 and ::1",
            "fapiao dev-certs --dir certs --host fapiao.internal --client gov-system-1",
        ),
    )
    certs.add_argument("--dir", type=Path, default=Path("fapiao-certs"), help="where to write (default: fapiao-certs)")
    certs.add_argument(
        "--host",
        action="append",
        metavar="NAME",
        help="a name or IP address clients reach the server by (repeat; default: localhost, 127.0.0.1, ::1)",
    )
    certs.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="a client certificate for mutual TLS whose common name is NAME, the certificate_name of the principal "
        "it stands for (repeat)",
    )
    certs.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT", help="the TLS address to print")
    certs.add_argument(
        "--mtls-listen", metavar="HOST:PORT", help="the mutual-TLS address to print (default: the next port)"
    )
    certs.add_argument("--force", action="store_true", help="replace files that exist (a new CA: reissue everything)")
    certs.set_defaults(handler=_dev_certs)


@dataclass(frozen=True, slots=True)
class Written:
    folder: Path
    hosts: list[str]
    clients: list[str]

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server(self) -> tuple[Path, Path]:
        return self.folder / "server.pem", self.folder / "server-key.pem"

    def client(self, name: str) -> tuple[Path, Path]:
        return self.folder / f"client-{name}.pem", self.folder / f"client-{name}-key.pem"

    def files(self) -> list[Path]:
        return [self.ca, self.folder / "ca-key.pem", *self.server, *(f for n in self.clients for f in self.client(n))]


def _write(path: Path, data: bytes, mode: int) -> None:
    """Into place at once, with its final mode from the start: a key is never readable by others, not even for
    the moment between writing and chmod."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_dev_certificates(folder: Path, hosts: list[str], clients: list[str], *, force: bool = False) -> Written:
    """Make the CA and certificates and write them to ``folder``; raises FileExistsError naming the files that
    exist (unless ``force``) and ValueError for a name that cannot be used."""
    from ..security.certificates import CertificateAuthority

    for name in clients:
        if not FILE_SAFE.fullmatch(name):
            raise ValueError(
                f"--client {name!r}: use letters, digits, '.', '_' and '-' (the name is part of the file names); "
                "for other names make the certificate with openssl (docs/security.md)"
            )
    written = Written(folder.resolve(), list(dict.fromkeys(hosts)), list(dict.fromkeys(clients)))
    existing = [path for path in written.files() if path.exists()]
    if existing and not force:
        raise FileExistsError(", ".join(str(path) for path in existing))
    ca = CertificateAuthority.create()
    server = ca.issue_server(written.hosts)  # checks the names before anything is written
    issued = {name: ca.issue_client(name) for name in written.clients}
    written.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(written.ca, ca.certificate_pem, 0o644)
    _write(written.folder / "ca-key.pem", ca.key_pem, 0o600)
    _write(written.server[0], server.certificate, 0o644)
    _write(written.server[1], server.key, 0o600)
    for name, client in issued.items():
        certificate, key = written.client(name)
        _write(certificate, client.certificate, 0o644)
        _write(key, client.key, 0o600)
    return written


def _host_port(value: str, flag: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"{flag} {value!r}: must be HOST:PORT, e.g. 127.0.0.1:50051")
    return host, int(port)


def _target(listen_host: str, port: int, hosts: list[str], default_hosts: bool) -> str:
    """The address clients dial: the listening host, unless it listens on every address; then a name of the
    certificate (127.0.0.1 when the names are the default ones)."""
    host = listen_host
    if host in UNSPECIFIED:
        host = "127.0.0.1" if default_hosts else hosts[0]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _dev_certs(options: argparse.Namespace) -> int:
    from .register import fapiao_command

    hosts = options.host or list(DEFAULT_HOSTS)
    try:
        listen_host, listen_port = _host_port(options.listen, "--listen")
        mtls_listen = options.mtls_listen or f"{listen_host}:{listen_port + 1}"
        mtls_host, mtls_port = _host_port(mtls_listen, "--mtls-listen")
        written = write_dev_certificates(options.dir, hosts, options.client, force=options.force)
    except FileExistsError as error:
        print(f"fapiao: these files exist: {error}; pass --force to replace them (and re-issue everything)",
              file=sys.stderr)  # fmt: skip
        return 2
    except (ValueError, OSError) as error:
        print(f"fapiao: {error}", file=sys.stderr)
        return 2
    fapiao, q = fapiao_command(), shlex.quote
    ca, (certificate, key) = q(str(written.ca)), (q(str(path)) for path in written.server)
    tls_target = _target(listen_host, listen_port, written.hosts, options.host is None)
    mtls_target = _target(mtls_host, mtls_port, written.hosts, options.host is None)
    lines = [
        f"Wrote to {written.folder} (private keys 0600; ca-key.pem signs certificates every client trusts: keep it "
        "off servers):",
        "  ca.pem, ca-key.pem: the CA; clients trust ca.pem, the mutual-TLS listener accepts the clients it signed",
        f"  server.pem, server-key.pem: the server, for {', '.join(written.hosts)}",
        *(
            f"  client-{name}.pem, client-{name}-key.pem: CN={name}, the principal whose certificate_name is {name}"
            for name in written.clients
        ),
        "",
        f"Serve TLS on {options.listen} and mutual TLS on {mtls_listen}:",
        f"  export FAPIAO_LISTEN={q(options.listen)}",
        f"  export FAPIAO_TLS_CERT_FILE={certificate}",
        f"  export FAPIAO_TLS_KEY_FILE={key}",
        f"  export FAPIAO_MTLS_LISTEN={q(mtls_listen)}",
        f"  export FAPIAO_MTLS_CLIENT_CA_FILE={ca}",
        f"  {fapiao} serve",
        "",
        "Call it over TLS, with an API key or a login as usual:",
        f"  {fapiao} whoami --target {tls_target} --ca-cert {ca}",
    ]
    if written.clients:
        name = written.clients[0]
        client_certificate, client_key = (q(str(path)) for path in written.client(name))
        lines += [
            f"and over mutual TLS, where the certificate names the caller (the principal with certificate_name {name}; "
            f"an admin gives it with `{fapiao} admin principals update ID --certificate-name {q(name)}`; a token the "
            "CLI sends, from FAPIAO_TOKEN or a login, names the caller instead):",
            f"  {fapiao} whoami --target {mtls_target} --ca-cert {ca} --client-cert {client_certificate} "
            f"--client-key {client_key}",
        ]
    else:
        lines.append("Client certificates for mutual TLS: run again with --client NAME (and --force).")
    print("\n".join(lines))
    return 0
