"""`fapiao serve`: resolve the database (or start the embedded one), migrate, then run one worker in this
process or N worker processes sharing the port, restarting any that die, draining all on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import socket
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings

if TYPE_CHECKING:
    from ..telemetry.node_metrics import NodeMetrics

log = logging.getLogger("fapiao.supervisor")
READY_TIMEOUT_SECONDS = 60.0
# A worker that dies this many times within CRASH_WINDOW_SECONDS takes the fleet down rather than flapping.
MAX_CRASHES, CRASH_WINDOW_SECONDS = 5, 60.0


def configure_logging(level: str, log_format: str = "auto") -> None:
    """This process's logs on stderr: JSON lines or readable ones (telemetry/logs.py)."""
    from ..telemetry.logs import configure_logging as configure

    configure(level, log_format)  # type: ignore[arg-type]  # Settings checked it is one of the formats


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, address: str) -> Endpoint:
        host, _, port = address.rpartition(":")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def resolve_database(settings: Settings, stack: ExitStack) -> tuple[str, str]:
    """The database URL to use and how to describe it; starts the embedded PostgreSQL if none is configured."""
    if settings.database_url:
        return settings.database_url, "PostgreSQL at FAPIAO_DATABASE_URL"
    from ..storage.embedded import start_embedded_postgres

    try:
        url, stop = start_embedded_postgres(settings.data_dir)
    except ModuleNotFoundError as error:
        if error.name != "pgserver":
            raise
        # The node extra (the image) has no embedded PostgreSQL: say what to set instead of a traceback.
        print(
            "fapiao: FAPIAO_DATABASE_URL is not set and this install has no embedded PostgreSQL "
            "(pip install 'fapiao[server]' for one); set FAPIAO_DATABASE_URL",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    stack.callback(stop)
    return url, f"embedded PostgreSQL in {settings.data_dir / 'pgdata'}"


async def run_worker(
    settings: Settings,
    database_url: str,
    on_ready: Callable[[int], None],
    *,
    worker: int = 0,
    node_metrics: NodeMetrics | None = None,
    on_metrics: Callable[[int], None] | None = None,
) -> None:
    """Run one Application until SIGTERM or SIGINT, then drain it. Its metrics join ``node_metrics`` when the node
    serves them from this very process; otherwise (a worker of several) they are served on a loopback port of
    their own, told to ``on_metrics`` before ``on_ready``."""
    from ..app import Application

    app = Application(settings, database_url, worker=worker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = await app.start()
    if node_metrics is not None and app.metrics.registry is not None:
        node_metrics.include(worker, app.metrics.registry)
    elif on_metrics is not None and (metrics_port := app.metrics.serve()) is not None:
        on_metrics(metrics_port)
    # What exists now (modules, classes, the application's long-lived parts) lives as long as the worker. Frozen
    # out of the cyclic collector's sight, it is no longer scanned by every full collection, which then sees only
    # what came after: under IssueInvoice load a worker's full collections paused it 57-340 ms each, 22-42 ms with
    # its imports frozen, and with this freeze IssueInvoice's p99 at 30% of its maximum fell by about 30%
    # (docs/performance.md, "IssueInvoice at 30% of its maximum"). Reference counting still frees any of it that
    # dies; only a frozen cycle would linger.
    gc.collect()
    gc.freeze()
    on_ready(port)
    await stop.wait()
    log.info("draining")
    await app.stop()


def _worker_process(
    settings_data: dict[str, object], database_url: str, ready: multiprocessing.Queue, index: int = 0
) -> None:
    settings = Settings(**settings_data)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    # SIGINT goes to the whole process group on Ctrl-C; the supervisor decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_supervisor()
    try:
        asyncio.run(
            run_worker(
                settings,
                database_url,
                lambda port: ready.put((os.getpid(), port)),
                worker=index,
                on_metrics=lambda port: ready.put(("metrics", index, port)),
            )
        )
    except Exception:
        # One log line with the traceback, not multiprocessing's own print of it (many lines, no level, no pid).
        log.critical("worker failed", exc_info=True)
        raise SystemExit(1) from None


def _die_with_supervisor() -> None:
    """On Linux, get SIGTERM (and drain) if the supervisor dies without stopping us, so no orphaned worker
    keeps the port after a crash or a SIGKILL of `fapiao serve`."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class PortTaken(Exception):
    """Another process listens on the address `fapiao serve` was asked to use."""


def _socket(endpoint: Endpoint) -> socket.socket:
    family = socket.AF_INET6 if ":" in endpoint.host.strip("[]") else socket.AF_INET
    return socket.socket(family, socket.SOCK_STREAM)


def claim_port(endpoint: Endpoint, *, workers: int) -> socket.socket | None:
    """Make sure no other process holds ``endpoint``, then, for several workers, reserve it for them: a bound (not
    listening) SO_REUSEPORT socket kept until the fleet stops, so port 0 becomes one concrete port all workers
    share and a restarted worker finds it again. Raises PortTaken.

    SO_REUSEPORT would let a second register of the same user bind the port beside ours, silently, and take part
    of its connections; this checks first with a socket that does not share (SO_REUSEADDR only, so connections
    of an earlier run in TIME_WAIT do not count), which any listener on the port refuses."""
    host = endpoint.host.strip("[]")
    if endpoint.port:
        with _socket(endpoint) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, endpoint.port))
            except OSError as error:
                raise PortTaken(f"{endpoint} is in use by another process ({error.strerror})") from error
    if workers == 1:
        return None  # the worker binds it alone, without SO_REUSEPORT
    sock = _socket(endpoint)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, endpoint.port))
    return sock


class Fleet:
    """N worker processes on one port. With ``metrics``, each worker serves its metrics on a loopback port it
    reports here, and the node's endpoint merges them (telemetry/node_metrics.py)."""

    def __init__(self, settings: Settings, database_url: str, address: str, metrics: NodeMetrics | None = None) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._ready: multiprocessing.Queue = self._context.Queue()
        self._settings = settings.model_copy(update={"listen": address})
        self._database_url = database_url
        self._metrics = metrics
        self._workers: list[multiprocessing.process.BaseProcess] = []
        self._crashes: list[float] = []
        self._stopping = False

    def _spawn(self, index: int) -> multiprocessing.process.BaseProcess:
        process = self._context.Process(
            target=_worker_process,
            # Python mode, not JSON: JSON would mask secrets (the token key) as "**********".
            args=(self._settings.model_dump(), self._database_url, self._ready, index),
            name="fapiao-worker",
        )
        process.start()
        return process

    def _heard(self, message: tuple[object, ...]) -> bool:
        """Note a worker's message; True when it says the worker is ready (its metrics port comes before)."""
        if message[0] == "metrics":
            _, index, port = message
            if self._metrics is not None:
                self._metrics.worker_at(int(index), int(port))  # type: ignore[call-overload]
            return False
        return True

    def _hear_restarted(self) -> None:
        """Take in what restarted workers reported (their metrics ports) without waiting."""
        while True:
            try:
                self._heard(self._ready.get_nowait())
            except queue.Empty:
                return

    def start(self, count: int) -> None:
        self._workers = [self._spawn(index) for index in range(count)]
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        ready = 0
        while ready < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or any(not w.is_alive() for w in self._workers):
                raise RuntimeError("workers failed to start; see the log above")
            try:
                ready += self._heard(self._ready.get(timeout=remaining))
            except Exception as error:
                raise RuntimeError("workers did not become ready in time") from error

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def supervise(self) -> int:
        """Keep the fleet at size until asked to stop; returns the exit status."""
        while not self._stopping:
            multiprocessing.connection.wait([w.sentinel for w in self._workers], timeout=0.5)
            self._hear_restarted()
            for index, worker in enumerate(self._workers):
                if worker.is_alive() or self._stopping:
                    continue
                log.error("worker %s exited with %s; restarting it", worker.pid, worker.exitcode)
                now = time.monotonic()
                self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_SECONDS] + [now]
                if len(self._crashes) >= MAX_CRASHES:
                    log.error("workers keep dying; shutting down")
                    self.stop()
                    return 1
                self._workers[index] = self._spawn(index)
                if self._metrics is not None:
                    self._metrics.worker_restarted()
        self.stop()
        return 0

    def stop(self) -> None:
        """SIGTERM every worker (each drains its in-flight calls), then wait; kill only what overstays."""
        for worker in self._workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        limit = time.monotonic() + self._settings.shutdown_drain_delay_seconds + self._settings.shutdown_grace_seconds
        for worker in self._workers:
            worker.join(timeout=max(0.0, limit + 5 - time.monotonic()))
            if worker.is_alive():
                log.error("worker %s did not stop in time; killing it", worker.pid)
                worker.kill()
                worker.join()
