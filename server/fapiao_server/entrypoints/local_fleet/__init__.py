"""`fapiao fleet`: N `fapiao serve` nodes behind the shipped Envoy on one machine, for SREs and tests.

The shipped Envoy configuration (envoy.yaml) and its drain step (drain.sh) live here, inside the package, so an
installed `fapiao` runs exactly what deploy/envoy ships (deploy/envoy links to these files). Only argparse is
imported up front: the CLI registers this command on every start."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fapiao_client.cli.examples import examples


def add_command(commands: Any) -> None:
    fleet = commands.add_parser(
        "fleet",
        help="run N nodes behind Envoy on this machine (local PostgreSQL and Redis if none is configured)",
        **examples(
            "fapiao fleet                                   # 3 nodes behind Envoy on 127.0.0.1:8080",
            "fapiao fleet --nodes 2 --workers 2 --state /tmp/fleet.json",
        ),
    )
    fleet.add_argument("--nodes", type=int, default=3, metavar="N", help="how many nodes (default 3)")
    fleet.add_argument("--workers", type=int, metavar="N", help="worker processes per node (FAPIAO_WORKERS)")
    fleet.add_argument(
        "--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="Envoy's address for callers (port 0: any)"
    )
    fleet.add_argument(
        "--data-dir", type=Path, help="shared by every node: keys, embedded PostgreSQL (FAPIAO_DATA_DIR)"
    )
    fleet.add_argument(
        "--state", type=Path, metavar="FILE", help="write the fleet's pids, ports and restart commands here (JSON)"
    )
    fleet.set_defaults(handler=_run)


def _run(options: argparse.Namespace) -> int:
    from .command import run

    return run(options)
