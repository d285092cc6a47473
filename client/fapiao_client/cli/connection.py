"""How the CLI connects: TLS (and mutual TLS) from the --tls / --ca-cert / --client-cert / --client-key options; the
credentials come from FAPIAO_TOKEN or the credentials file `fapiao login` writes (see fapiao_client.credentials)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import grpc


def _read(name: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{name}: cannot read {path} ({error.strerror})") from None


def uses_tls(options: argparse.Namespace) -> bool:
    return bool(
        getattr(options, "tls", False) or getattr(options, "ca_cert", None) or getattr(options, "client_cert", None)
    )


def channel_credentials(options: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS channel credentials for the options given; None for plaintext (local use)."""
    ca, cert, key = (getattr(options, name, None) for name in ("ca_cert", "client_cert", "client_key"))
    if (cert is None) != (key is None):
        raise ValueError("--client-cert and --client-key go together")
    if ca is None and cert is None:
        # --tls alone: gRPC's bundled public roots, for a register behind a balancer with a public certificate.
        return grpc.ssl_channel_credentials() if getattr(options, "tls", False) else None
    return grpc.ssl_channel_credentials(
        root_certificates=_read("--ca-cert", ca) if ca else None,
        private_key=_read("--client-key", key) if key else None,
        certificate_chain=_read("--client-cert", cert) if cert else None,
    )


def client_arguments(options: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for a client of the register the options name."""
    return {"credentials": channel_credentials(options)}
