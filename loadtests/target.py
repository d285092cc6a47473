"""Where the users dial: Locust's --host as a gRPC target, in plaintext or over TLS.

``HOST:PORT`` is plaintext, which the register accepts on loopback only. ``https://HOST:PORT`` is TLS trusting the
system's certificate authorities; ``--ca-cert FILE`` (FAPIAO_CA_CERT, as for the fapiao CLI) is TLS trusting that
CA instead, with or without the scheme.
"""

from __future__ import annotations

import argparse

import grpc
from locust import events
from locust.argument_parser import LocustArgumentParser

from fapiao_client.cli.connection import channel_credentials

TLS_SCHEME = "https://"


@events.init_command_line_parser.add_listener
def add_tls_option(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--ca-cert",
        env_var="FAPIAO_CA_CERT",
        metavar="FILE",
        help="dial the register with TLS, trusting this CA for its certificate (FAPIAO_CA_CERT)",
    )


def open_channel(host: str, options: argparse.Namespace | None) -> grpc.Channel:
    """A channel to ``host`` (Locust's --host), secured as its scheme and ``options`` (--ca-cert) say."""
    target = host.removeprefix(TLS_SCHEME)
    # The CLI's own reading of --ca-cert, so the load test trusts what `fapiao --ca-cert` trusts.
    credentials = channel_credentials(options or argparse.Namespace())
    if credentials is None and target != host:
        credentials = grpc.ssl_channel_credentials()
    return grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
