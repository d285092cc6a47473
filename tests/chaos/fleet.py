"""The fleet the chaos suite breaks: `fapiao fleet` (nodes behind the shipped Envoy config) on a PostgreSQL and a
Redis of the suite's own, so they can be stopped, restarted and frozen without touching the machine's shared
ones. Nodes are killed by pid and started again on their port from the fleet's state file, as an SRE would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.entrypoints.local_fleet.envoy import host_health, wait_until_healthy
from fapiao_server.entrypoints.supervisor import Endpoint
from fapiao_server.storage.migrations import migrate
from tests.support.access import server_env
from tests.support.keys import master_key_env
from tests.support.postgres_process import PostgresProcess
from tests.support.server import NO_QUOTAS, alive, fapiao_executable, serving
from tests.support.services import RedisProcess
from tests.support.signing import fleet_key_file

NODE_START_SECONDS = 90.0
# As deploy/compose.yaml: the drain delay outlasts Envoy's health checks (2 s x 2 + jitter + timeout), so on a
# SIGTERM Envoy stops sending a node calls before it stops taking them.
NODE_SETTINGS = {
    "FAPIAO_SHUTDOWN_DRAIN_DELAY_SECONDS": "6",
    "FAPIAO_SHUTDOWN_GRACE_SECONDS": "20",
}


@dataclass
class NodeSlot:
    """A node's place in the fleet: its port stays, its process changes as the suite kills and restarts it."""

    index: int
    address: str
    command: list[str]
    env: dict[str, str]
    pid: int
    # Processes this suite started (restarts); the fleet stops the ones it started itself.
    ours: list[subprocess.Popen[bytes]] = field(default_factory=list)


class ChaosFleet:
    def __init__(self, nodes: int = 3) -> None:
        self.node_count = nodes
        self.postgres = PostgresProcess()
        self.redis = RedisProcess()
        self.folder = Path(tempfile.mkdtemp(prefix="fapiao-chaos-"))
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.target = ""
        self.admin = Endpoint("127.0.0.1", 0)
        self.nodes: list[NodeSlot] = []
        self._postgres_down = self._redis_down = self._redis_frozen = False

    @property
    def database_url(self) -> str:
        return self.postgres.url()

    def start(self) -> ChaosFleet:
        self.postgres.start()
        self.redis.start()
        migrate(self.database_url, today=business_date(utc_now()))
        state_file = self.folder / "fleet.json"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")},
            **server_env(),
            **master_key_env(),
            **NO_QUOTAS,
            **NODE_SETTINGS,
            "FAPIAO_SIGNING_KEY_FILE": str(fleet_key_file()),
            "FAPIAO_DATABASE_URL": self.database_url,
            "FAPIAO_REDIS_URL": self.redis.url,
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:chaos:{uuid.uuid4().hex[:12]}:",
            "FAPIAO_DATA_DIR": str(self.folder / "data"),
            "FAPIAO_LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [str(fapiao_executable()), "fleet", "--nodes", str(self.node_count), "--workers", "1",
             "--listen", "127.0.0.1:0", "--state", str(state_file)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        ready = threading.Event()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if line.startswith("Ctrl-C"):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + NODE_START_SECONDS
        while not ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fleet did not start:\n" + "".join(self.lines))
        state = json.loads(state_file.read_text())
        self.target = state["target"]
        self.admin = Endpoint.parse(state["admin"])
        self.nodes = [
            NodeSlot(node["index"], node["address"], node["command"], node["env"], node["pid"])
            for node in state["nodes"]
        ]
        return self

    # Nodes.

    def kill(self, slot: NodeSlot) -> None:
        """SIGKILL: no drain, calls in flight are cut, whatever the worker held in memory is gone."""
        os.kill(slot.pid, signal.SIGKILL)
        self._wait_gone(slot, 10)

    def terminate(self, slot: NodeSlot) -> None:
        """SIGTERM, as a rolling deploy does; returns once the node has drained and exited."""
        os.kill(slot.pid, signal.SIGTERM)
        self._wait_gone(slot, 60)

    def _wait_gone(self, slot: NodeSlot, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for process in slot.ours:
            if process.pid == slot.pid:
                process.wait(timeout)  # reap it, or it would stay a zombie that kill(pid, 0) finds alive
        while alive(slot.pid):
            assert time.monotonic() < deadline, f"node {slot.index} (pid {slot.pid}) did not exit"
            time.sleep(0.05)

    def restart(self, slot: NodeSlot) -> None:
        """Start the node again on its port with its command and environment, and wait until Envoy sends it calls."""
        process = subprocess.Popen(
            slot.command,
            env={**os.environ, **slot.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        slot.ours.append(process)
        slot.pid = process.pid
        deadline = time.monotonic() + NODE_START_SECONDS
        while not serving(slot.address):
            assert process.poll() is None, f"node {slot.index} exited with {process.returncode} on restart"
            assert time.monotonic() < deadline, f"node {slot.index} did not come back"
            time.sleep(0.1)
        self.wait_until_balanced()

    def wait_until_balanced(self, timeout: float = 30) -> None:
        wait_until_healthy(self.admin, self.node_count, timeout=timeout)

    def healthy_in_envoy(self) -> dict[str, bool]:
        return host_health(self.admin)

    def envoy_stats(self, prefix: str) -> dict[str, int]:
        with urllib.request.urlopen(f"http://{self.admin}/stats?filter={prefix}", timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        stats = {}
        for line in lines:
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                stats[name] = int(value)
        return stats

    # The database and the cache. Each fault is undone by heal(), so a failed test leaves the next one a whole
    # fleet.

    def stop_postgres(self, mode: str = "fast") -> None:
        self.postgres.stop(mode)
        self._postgres_down = True

    def start_postgres(self) -> None:
        self.postgres.start()
        self._postgres_down = False

    def stop_redis(self) -> None:
        self.redis.stop()
        self._redis_down = True

    def start_redis(self) -> None:
        self.redis.start()
        self._redis_down = False

    def freeze_redis(self) -> None:
        self.redis.pause()
        self._redis_frozen = True

    def thaw_redis(self) -> None:
        self.redis.resume()
        self._redis_frozen = False

    def heal(self) -> None:
        if self._redis_frozen:
            self.thaw_redis()
        if self._redis_down:
            self.start_redis()
        if self._postgres_down:
            self.start_postgres()
        for slot in self.nodes:
            if not alive(slot.pid):
                self.restart(slot)
        self.wait_until_balanced()

    # The end.

    def close(self) -> None:
        """Stop everything, each step whatever became of the others: a test that failed half-way must not leave
        a node running into the rest of the run."""
        steps = [self._stop_fleet, self._stop_restarted_nodes, self.redis.close, self.postgres.close]
        failures = []
        for step in steps:
            try:
                step()
            except Exception as error:  # the next step runs regardless; the first failure is raised at the end
                failures.append(error)
        if failures:
            raise failures[0]

    def _stop_fleet(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _stop_restarted_nodes(self) -> None:
        processes = [process for slot in self.nodes for process in slot.ours if process.poll() is None]
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
