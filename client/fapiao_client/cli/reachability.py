"""Why a call never reached the register, said in one line that names the target, the likely cause and the fix.

gRPC reports every failure to connect as UNAVAILABLE with its transport's words ("connections to all backends
failing; last error: UNAVAILABLE: ipv4:127.0.0.1:50051: Socket closed"), which name neither the cause nor the
fix. A plaintext client talking to a TLS server and a TLS client refused for want of a client certificate both
read "Socket closed"; for the first, a TLS handshake of our own tells them apart."""

from __future__ import annotations

import argparse
import socket
import ssl

from ..errors import FapiaoError
from .connection import uses_tls

# The register could not be reached (the package doc lists every exit status).
EXIT_UNREACHABLE = 9
PROBE_SECONDS = 2.0
# What gRPC says when no connection could be made (as opposed to a call that failed on a connection).
_NO_CONNECTION = (
    "connections to all backends failing",
    "failed to connect to all addresses",
    "errors resolving",
    "dns resolution failed",
    "hostname lookup",
    "handshake failed",
    "socket closed",
    "connection refused",
    "connection reset",
    "no route to host",
    "network is unreachable",
    "connection timed out",
    "empty address list",
)


def unreachable(error: FapiaoError) -> bool:
    """Whether ``error`` says no connection to the register could be made at all."""
    text = error.message.lower()
    return error.code.name == "UNAVAILABLE" and any(marker in text for marker in _NO_CONNECTION)


def host_and_port(target: str) -> tuple[str, int] | None:
    """(host, port) of a HOST:PORT or [IPv6]:PORT target; None for gRPC scheme targets."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = target.rpartition(":")
    return (host, int(port)) if host and port.isdigit() and "/" not in host else None


def speaks_tls(target: str) -> bool:
    """Whether the server at ``target`` answers a TLS handshake (its certificate is not checked: this only asks
    which protocol it speaks)."""
    address = host_and_port(target)
    if address is None:
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(address, timeout=PROBE_SECONDS) as raw,
            context.wrap_socket(raw, server_hostname=address[0]),
        ):
            return True
    except ssl.SSLError as error:
        # A TLS server that wants a client certificate refuses with an alert; a plaintext one sends no TLS at all.
        return "WRONG_VERSION_NUMBER" not in str(error) and "record layer" not in str(error).lower()
    except OSError:
        return False


def explain(error: FapiaoError, options: argparse.Namespace) -> str:
    """One line: which target, what went wrong, what to do."""
    target = options.target
    text = error.message
    lowered = text.lower()
    tls = uses_tls(options)
    if "errors resolving" in lowered or "dns resolution failed" in lowered or "hostname lookup" in lowered:
        host = (host_and_port(target) or (target, 0))[0]
        return f"could not reach {target}: there is no host named {host!r}; check --target (or FAPIAO_TARGET)"
    if "connection refused" in lowered:
        return (
            f"could not reach {target}: connection refused; is `fapiao serve` running there, on that port? "
            "(--target HOST:PORT, or FAPIAO_TARGET)"
        )
    if "wrong_version_number" in lowered:
        return (
            f"the server at {target} does not speak TLS: leave out --tls / --ca-cert / --client-cert "
            "(or connect to the address where it serves TLS)"
        )
    if "certificate_verify_failed" in lowered:
        trusted = f"the CA in {options.ca_cert}" if getattr(options, "ca_cert", None) else "the public CAs"
        return (
            f"the server at {target} speaks TLS with a certificate not signed by {trusted}: pass --ca-cert FILE, "
            "FILE being the CA that signed the register's certificate (or FAPIAO_CA_CERT)"
        )
    if "peer name" in lowered or "hostname mismatch" in lowered:
        return (
            f"the certificate of the server at {target} is not issued for that name: connect by a name (or "
            "address) the certificate lists"
        )
    if "socket closed" in lowered or "connection reset" in lowered:
        if not tls and speaks_tls(target):
            return (
                f"the server at {target} speaks TLS: pass --ca-cert FILE (the CA of its certificate), or --tls if a "
                "public CA signed it"
            )
        if tls and getattr(options, "client_cert", None):
            return (
                f"the server at {target} ended the TLS handshake: it did not accept --client-cert "
                f"{options.client_cert}; is it signed by the CA that server trusts for clients?"
            )
        if tls:
            return (
                f"the server at {target} ended the TLS handshake: it wants a client certificate; pass "
                "--client-cert FILE --client-key FILE"
            )
        return f"could not reach {target}: the connection was closed at once; is that the register's address?"
    reason = text.rsplit(": ", 1)[-1] if ": " in text else text
    return f"could not reach {target}: {reason}"
