"""`fapiao watch` through an outage: a register on a port of its own is stopped and started again, and the
watch rides it out (however long it takes, saying so), goes on where it was, and, when it is stopped (Ctrl-C) or
gives up (--give-up-after), prints the cursor and the command that resumes from it."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import IO

import pytest

from fapiao.v1 import invoice_pb2
from fapiao_client import InvoiceClient
from tests.support.fleet import issue_request, new_tax_id, pool_key
from tests.support.server import NO_QUOTAS, ServerProcess, fapiao_executable
from tests.support.services import free_port

pytestmark = pytest.mark.slow
# Longer than the old limit (5 reconnections in about 6 s) by a margin.
OUTAGE_SECONDS = 10.0
WAIT = 60.0


class Register:
    """One single-worker server that can be stopped and started again on the same port."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self.env = {
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_REDIS_URL": redis_url,
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:{uuid.uuid4().hex[:12]}:",
            "FAPIAO_LOG_LEVEL": "WARNING",
            "FAPIAO_SHUTDOWN_GRACE_SECONDS": "1",
            **NO_QUOTAS,
        }
        self.process: ServerProcess | None = None

    def start(self) -> None:
        self.process = ServerProcess("--listen", self.address, "--workers", "1", env=self.env).start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def register(database_url: str, redis_url: str) -> Iterator[Register]:
    served = Register(database_url, redis_url)
    served.start()
    yield served
    served.stop()


class Lines:
    """A stream's lines as they come, read in the background."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

    def until(self, wanted: str, timeout: float = WAIT) -> str:
        """Read on until a line containing ``wanted``; that line."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {wanted!r} within {timeout} s; saw {self.seen}") from None
            self.seen.append(line)
            if wanted in line:
                return line


def _watch(register: Register, key: str, *args: str) -> tuple[subprocess.Popen[str], Lines, Lines]:
    command = [str(fapiao_executable()), "watch", *args, "--target", register.address, "--json"]
    env = {**os.environ, "FAPIAO_TOKEN": key}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    return process, Lines(process.stdout), Lines(process.stderr)


def _issue(register: Register, key: str, seller: str) -> str:
    with InvoiceClient(register.address, token=key) as client:
        return client.issue_invoice(issue_request(invoice_pb2.INVOICE_TYPE_E_VAT_GENERAL, seller)).invoice_number


def test_watch_rides_out_a_restart_and_says_how_to_resume(register: Register, database_url: str) -> None:
    key, seller = pool_key(database_url), new_tax_id()
    watcher, out, err = _watch(register, key, "--tax-id", seller)
    patient, _, patient_err = _watch(register, key, "--tax-id", seller, "--give-up-after", "3")
    try:
        err.until("watching from cursor")
        patient_err.until("watching from cursor")
        first = _issue(register, key, seller)
        assert json.loads(out.until(first))["invoice"]["invoice_number"] == first

        register.stop()
        err.until("connection lost")  # the server says it is shutting down, then nothing answers there
        lost = err.until(f"could not reach {register.address}")
        assert "connection lost" in lost and "reconnecting in" in lost, lost
        given_up = patient.wait(timeout=WAIT)  # the bounded one stops, saying where to go on from
        assert given_up == 9, patient_err.seen
        resume = patient_err.until("resume with --cursor")
        cursor = resume.split("--cursor ", 1)[1].split(":", 1)[0]
        assert f"fapiao watch --tax-id {seller} --cursor {cursor} --target {register.address} --json" in resume
        time.sleep(OUTAGE_SECONDS)
        assert watcher.poll() is None, err.seen  # the unbounded one is still trying

        register.start()
        second = _issue(register, key, seller)
        event = json.loads(out.until(second))
        assert event["invoice"]["invoice_number"] == second
        err.until("reconnected")

        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=WAIT) == 130
        stopped = err.until("resume with --cursor")
        assert f"--cursor {event['cursor']}: fapiao watch --tax-id {seller} --cursor {event['cursor']}" in stopped
    finally:
        for process in (watcher, patient):
            process.kill()
            process.wait()

    # The command printed when the bounded watch gave up replays what it missed.
    printed = shlex.split(resume.split("resume with --cursor ", 1)[1].split(": ", 1)[1])
    replay = subprocess.run(
        [*printed, "--count", "1", "--timeout", "30"],
        env={**os.environ, "FAPIAO_TOKEN": key, "PATH": f"{fapiao_executable().parent}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["invoice"]["invoice_number"] == second
