"""Running `fapiao serve` as a real process on a real port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .access import server_env
from .keys import master_key_env
from .signing import fleet_key_file


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def serving(address: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``address`` answers its health check with SERVING."""
    try:
        with grpc.insecure_channel(address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
    except grpc.RpcError:
        return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def log_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON log lines among a server's stderr lines, parsed (a server whose stderr is not a terminal logs one
    JSON object per line); lines that are not JSON objects are left out."""
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def logged_errors(lines: Iterable[str]) -> list[str]:
    """The stderr lines logged at ERROR or CRITICAL (an unexpected exception is logged as one), as written."""
    return [line for line in lines if any(r.get("level") in ("error", "critical") for r in log_records([line]))]


def fapiao_executable() -> Path:
    """The installed `fapiao` command of this environment, as a user would run it."""
    return Path(sys.executable).with_name("fapiao")


BANNER = re.compile(r"fapiao: serving on (\S+):(\d+) with")
# For servers whose tests call far faster than 20/s as one caller, or verify the same seeded invoices far more
# than 5 times a day (a session's tests share the callers and the samples): quotas off, as the benchmark runs.
# The quotas are tested on servers of their own (tests/e2e/test_quotas_e2e.py).
NO_QUOTAS = {"FAPIAO_RATE_LIMIT_PER_SECOND": "1e9", "FAPIAO_VERIFICATIONS_PER_INVOICE_PER_DAY": "0"}


class ServerProcess:
    """``fapiao serve`` in a subprocess; ``address`` is known once it prints its banner."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.args = [str(fapiao_executable()), "serve", *args]
        # The test decides the whole configuration: nothing leaks in from the FAPIAO_* of the outer shell. Every
        # server gets the run's master key (unless the test says otherwise), as a fleet on one database must.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
        # Every server signs with the run's one key unless the test names another (as a fleet shares one key).
        shared_key = {"FAPIAO_SIGNING_KEY_FILE": str(fleet_key_file())}
        self.env = {
            **inherited, "PYTHONUNBUFFERED": "1", **server_env(), **master_key_env(), **shared_key, **(env or {})
        }  # fmt: skip
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self.stdout: list[str] = []
        self.stderr: list[str] = []

    def start(self, timeout: float = 90.0) -> ServerProcess:
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        ready = threading.Event()

        def read_stdout() -> None:
            assert self.process and self.process.stdout
            for line in self.process.stdout:
                self.stdout.append(line)
                match = BANNER.search(line)
                if match:
                    self.address = f"{match[1]}:{match[2]}"
                    ready.set()

        def read_stderr() -> None:
            assert self.process and self.process.stderr
            for line in self.process.stderr:
                self.stderr.append(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + "".join(self.stderr[-40:]))
        return self

    def output(self) -> str:
        return "".join(self.stdout)

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
