"""What the benchmark sets up and must take down again: a scratch database, a Redis key namespace, server
processes. Every subprocess is bounded in time; every server runs in its own session so it can be stopped
(with its workers) by its process-group id, and nothing else."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BANNER = re.compile(r"fapiao: serving on (\S+):(\d+) with (\d+) worker")
BENCH_DIR = Path(__file__).resolve().parent


def fapiao_executable() -> Path:
    return Path(sys.executable).with_name("fapiao")


def tool(name: str) -> str | None:
    """A tool next to this Python (the venv's bin) or on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    from shutil import which

    return which(name)


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def create_database(admin_url: str) -> tuple[str, str]:
    """A new empty database ``fapiao_bench_<random>``; returns its name and URL."""
    import psycopg

    name = f"fapiao_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name, database_url(admin_url, name)


def copy_database(admin_url: str, template: str, name: str) -> str:
    """A copy of ``template`` (which nobody may be connected to) named ``name``; returns its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET statement_timeout = '120s'")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET statement_timeout = '60s'")
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def clear_redis_namespace(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; returns how many."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    removed, batch = 0, []
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                removed += client.unlink(*batch)
                batch = []
        if batch:
            removed += client.unlink(*batch)
    finally:
        client.close()
    return removed


@dataclass(frozen=True)
class Scratch:
    """What one bench run owns: a work folder, a database and a Redis key prefix."""

    workdir: Path
    database: str
    url: str
    redis_prefix: str


def scratch(stack: contextlib.ExitStack, admin_url: str, redis_url: str, label: str) -> Scratch:
    """A new work folder, database and Redis namespace, each removed again when ``stack`` closes (also on failure
    or Ctrl-C: the signals are ignored during the clean-up, so a second Ctrl-C cannot abort it)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fapiao-bench-{label}-"))
    stack.callback(lambda: shutil.rmtree(workdir, ignore_errors=True))
    name, url = create_database(admin_url)
    stack.callback(lambda: drop_database(admin_url, name))
    prefix = f"fapiao-bench-{name.rsplit('_', 1)[1]}:"
    stack.callback(lambda: clear_redis_namespace(redis_url, prefix))
    stack.callback(ignore_signals)  # registered last, so it runs first on the way out
    return Scratch(workdir, name, url, prefix)


def ignore_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def run_bounded(args: list[str], *, env: dict[str, str], timeout: float, what: str) -> str:
    """Run a command to completion within ``timeout`` seconds; returns stdout, raises with its output if it fails."""
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{what} did not finish within {timeout:.0f} s") from error
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


class ServerProcess:
    """A server (``fapiao serve`` or the floor) printing the fapiao banner; knows its address and worker pids."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self.workers = 0
        self.stdout: list[str] = []
        self._ready = threading.Event()

    def launch(self) -> ServerProcess:
        with self.stderr_path.open("w") as stderr:
            # A session of its own: Ctrl-C on the terminal reaches the benchmark, which stops the server in order;
            # and the whole tree (supervisor and workers) can be signalled by this group id.
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
            )
        threading.Thread(target=self._read_stdout, daemon=True, name=f"{self.name}-stdout").start()
        return self

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)
            match = BANNER.search(line)
            if match and not self._ready.is_set():
                self.address = f"{match[1]}:{match[2]}"
                self.workers = int(match[3])
                self._ready.set()

    def wait_ready(self, timeout: float = 90.0) -> ServerProcess:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.stderr_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} server did not start:\n{tail}")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the supervisor, without multiprocessing's resource tracker)."""
        pids = []
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            for child in children:
                with contextlib.suppress(OSError):
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                    if b"resource_tracker" not in cmdline:
                        pids.append(int(child))
        return pids

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the server drains), then SIGKILL to its process group if it overstays."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        workers = self.worker_pids()
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            # The supervisor is still there, so its group id is still ours: kill the whole tree.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        # A worker that outlived its supervisor: kill it by pid, if it is still one of ours.
        for pid in workers:
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == process.pid:
                    os.kill(pid, signal.SIGKILL)
