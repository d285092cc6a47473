"""`fapiao fleet` as an SRE or a chaos test runs it: nodes behind the shipped Envoy on the test database, a node
killed and restarted on its port from the state file, and Ctrl-C leaving nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from fapiao.v1 import verification_service_pb2 as pb
from fapiao_client import VerificationClient
from fapiao_server.entrypoints.local_fleet.envoy import wait_until_healthy
from fapiao_server.entrypoints.supervisor import Endpoint
from tests.conftest import Register
from tests.support.access import server_env
from tests.support.envoy import require_envoy
from tests.support.keys import master_key_env
from tests.support.server import NO_QUOTAS, alive, fapiao_executable, serving
from tests.support.signing import fleet_key_file

pytestmark = pytest.mark.slow
NODE = re.compile(r"node (\d+): (\S+) \(pid (\d+)\)")


class Fleet:
    """`fapiao fleet` in a subprocess; its banner read as it is printed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [str(fapiao_executable()), "fleet", *args], env=env, stdout=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Ctrl-C"):
                self.ready.set()

    def banner(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            assert self.process.poll() is None and time.monotonic() < deadline, "".join(self.lines)
        return "".join(self.lines)


def test_a_fleet_serves_through_envoy_restarts_nothing_itself_and_stops_everything_on_ctrl_c(
    database_url: str, redis_url: str, verifier_key: str, register: Register, tmp_path: Path
) -> None:
    require_envoy()
    state_file = tmp_path / "fleet.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")},
        **server_env(),
        **master_key_env(),
        **NO_QUOTAS,
        "FAPIAO_SIGNING_KEY_FILE": str(fleet_key_file()),
        "FAPIAO_DATABASE_URL": database_url,
        "FAPIAO_REDIS_URL": redis_url,
        "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:{uuid.uuid4().hex[:12]}:",
        "FAPIAO_DATA_DIR": str(tmp_path / "data"),
        "FAPIAO_LOG_LEVEL": "WARNING",
    }
    fleet = Fleet(env, "--nodes", "2", "--listen", "127.0.0.1:0", "--state", str(state_file))
    restarted: subprocess.Popen[bytes] | None = None
    try:
        banner = fleet.banner(timeout=60)
        target = re.search(r"target: (\S+)", banner)[1]  # type: ignore[index]
        nodes = {int(k): (address, int(pid)) for k, address, pid in NODE.findall(banner)}
        assert sorted(nodes) == [1, 2] and all(alive(pid) for _, pid in nodes.values())
        state = json.loads(state_file.read_text())
        assert state["target"] == target
        assert {n["index"]: (n["address"], n["pid"]) for n in state["nodes"]} == nodes
        sample = register.sample("state = 1")
        with VerificationClient(target) as client:
            assert client.verify_invoice(**sample.request_fields()).outcome == pb.VERIFICATION_OUTCOME_MATCH

        # A chaos test's part: kill node 1; the fleet leaves it dead; start it again on its port from the state.
        node = state["nodes"][0]
        os.kill(node["pid"], signal.SIGKILL)
        time.sleep(1.5)
        assert not alive(node["pid"]) and not serving(node["address"]) and fleet.process.poll() is None
        restarted = subprocess.Popen(
            node["command"], env={**os.environ, **node["env"]}, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while not serving(node["address"]):
            assert restarted.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        wait_until_healthy(Endpoint.parse(state["admin"]), 2, timeout=30)
        with VerificationClient(target) as client:
            assert client.verify_invoice(**sample.request_fields()).outcome == pb.VERIFICATION_OUTCOME_MATCH

        fleet.process.send_signal(signal.SIGINT)
        assert fleet.process.wait(30) == 0
        assert not any(alive(pid) for _, pid in nodes.values()), nodes
        assert not alive(state["envoy_pid"])
    finally:
        if fleet.process.poll() is None:
            fleet.process.kill()
        if restarted is not None:
            restarted.terminate()
            restarted.wait(30)
