"""InvoiceService benchmark: IssueInvoice throughput and latency (1 and 8 lines), numbering after 100,000
concurrent issues, and WatchInvoices fan-out to 100 watchers.

    python bench/lifecycle.py                      # the full run (about 12 minutes on 2 cores)
    python bench/lifecycle.py --quick              # a ~35-second smoke run
    python bench/lifecycle.py --output result.json # also write the report as JSON
    python bench/lifecycle.py --profile DIR        # also py-spy a worker under each load

What happens, in one run:

1. A scratch database on the PostgreSQL named by FAPIAO_BENCH_DATABASE_URL, migrated and empty, and a Redis
   namespace of its own (bench/environment.py, as bench/run.py does); ``fapiao serve --workers 2`` with the
   Redis cache, as deployed. Two floors (bench/noop_server.py): the same process model answering VerifyInvoice
   with a canned VerifyInvoiceResponse holding a real issued invoice of 1 or 8 lines, so the answer is as large
   as IssueInvoice's. All are removed at the end, also on failure or Ctrl-C.
2. IssueInvoice load from a grpc.aio client in a process of its own (its CPU is counted apart): requests for
   sellers of every region and every invoice type (fapiao_server.seeding), each with a fresh request_id,
   pre-serialized so the client costs little, sent over several channels. A probe over a few concurrencies
   finds each server's closed-loop maximum; the maximum is measured in interleaved rounds (floor, server, ...);
   then an open loop at a fixed rate (1,000/s by default) measures latency from each call's scheduled start, so
   a slow answer delays no later call; the same open loop is driven by h2load three times (--rate-repeats), and
   once at each of a few lower rates (--sweep). The same for 1 and 8 lines. A second baseline drives the server's own
   use case (LifecycleService.issue: the group commit, domain and SQL) from two processes without gRPC.
3. Numbering: N invoices (100,000; --quick 5,000) issued as concurrently as the client allows, then SQL checks
   that every counter's invoices are numbered exactly 1..next_value-1 (no duplicate, no gap), that every
   invoice has exactly one ISSUED event, and that every answer the client got is the stored invoice.
4. WatchInvoices: 100 watchers of one busy seller (one connection each) while that seller's invoices are issued,
   voided and certified at a steady rate; events delivered per second (total and per watcher), latency from
   the event's time to its receipt, and a check that every watcher saw every event once, in order.

Exit status: 0 when everything ran and every check held, 2 when a correctness check failed (the report says
which), 1 when the run failed. Missed performance targets are reported, not turned into an exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import cpu
import environment
import loadgen
import principals
import pyspy
import run as verification_bench

ISSUE_PATH = "/fapiao.v1.InvoiceService/IssueInvoice"
VOID_PATH = "/fapiao.v1.InvoiceService/VoidInvoice"
CERTIFY_PATH = "/fapiao.v1.InvoiceService/CertifyInvoice"
WATCH_PATH = "/fapiao.v1.InvoiceService/WatchInvoices"
FLOOR_PATH = "/fapiao.v1.VerificationService/VerifyInvoice"
TARGETS = {"issue_per_second": 1000.0, "issue_p99_ms": 50.0}
LINE_COUNTS = (1, 8)
PROBE_CONCURRENCY = (32, 128, 512, 1024)
QUICK_CONCURRENCY = 128
CHANNELS = 8
TEMPLATES = 2000
# A request_id is field 1 (length-delimited, 36 bytes of UUID text); prepending it to a serialized request
# without one gives the same message, so requests are built per call at the cost of one uuid4.
REQUEST_ID_TAG = b"\x0a\x24"
CLIENT_READY_SECONDS = 60.0
ISSUED = 1
# The watched seller's invoices: paper special (voidable) and 数电 special (certifiable) VAT invoices.
WATCH_TYPES = (1, 31)


def log(message: str) -> None:
    verification_bench.log(message)


# --------------------------------------------------------------------------------------------------------------
# Requests


def _proto_party(target: Any, party: Any) -> None:
    target.tax_id, target.name, target.address = party.tax_id, party.name, party.address
    target.phone, target.bank_name, target.bank_account = (
        party.phone,
        party.bank_name,
        party.bank_account,
    )


def taxpayer(database_url: str, principal_id: str, templates: Sequence[bytes]) -> tuple[Any, str]:
    """A TAXPAYER acting for every seller and buyer of ``templates`` (issuing as one, certifying as the other),
    and an API key of it."""
    from fapiao.v1 import invoice_service_pb2 as pb
    from fapiao_server.domain.access import Principal, Role

    parsed = [pb.IssueInvoiceRequest.FromString(t) for t in templates]
    tax_ids = frozenset(p.seller.tax_id for p in parsed) | {p.buyer.tax_id for p in parsed if p.buyer.tax_id}
    key = principals.api_key(database_url, principal_id, Role.TAXPAYER, tax_ids=tax_ids)
    return Principal(principal_id, Role.TAXPAYER, tax_ids), key


def issue_templates(count: int, lines: int, *, seed: int, sellers: int = 400, types: Sequence[int] = ()) -> list[bytes]:
    """``count`` serialized IssueInvoiceRequests without request_id: realistic sellers of every region, buyers,
    types in the register's proportions (or only ``types``), each with ``lines`` lines (vehicle invoices, which
    take exactly one, only when ``lines`` is 1)."""
    from fapiao.v1 import invoice_service_pb2 as pb
    from fapiao_server.domain.invoice_types import InvoiceType
    from fapiao_server.seeding.generator import InvoiceGenerator

    generator = InvoiceGenerator(seed=seed, now=datetime.now(UTC), sellers=sellers)
    single = {InvoiceType.MOTOR_VEHICLE, InvoiceType.USED_CAR}
    templates: list[bytes] = []
    pool: dict[InvoiceType, list[Any]] = {}
    while len(templates) < count:
        for invoice in generator.batch(256):
            kind = invoice.invoice_type
            if invoice.reverses is not None or (types and kind not in types) or (lines > 1 and kind in single):
                continue
            spare = pool.setdefault(kind, [])
            spare.extend(invoice.lines)
            chosen = (invoice.lines + spare)[:lines]
            if len(chosen) < lines:
                continue
            request = pb.IssueInvoiceRequest(
                invoice_type=int(kind),
                remarks=invoice.remarks,
                issuer_name=invoice.issuer_name,
                payee_name=invoice.payee_name,
                reviewer_name=invoice.reviewer_name,
            )
            _proto_party(request.seller, invoice.seller)
            _proto_party(request.buyer, invoice.buyer)
            for line in chosen:
                request.lines.add(
                    item_name=line.item_name,
                    tax_classification_code=line.tax_classification_code,
                    specification=line.specification,
                    unit=line.unit,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount_fen=line.amount_fen,
                    tax_rate_basis_points=line.tax_rate_basis_points,
                )
            if invoice.vehicle is not None:
                v = invoice.vehicle
                request.vehicle.vin, request.vehicle.brand_model = v.vin, v.brand_model
                request.vehicle.vehicle_type, request.vehicle.license_plate = (
                    v.vehicle_type,
                    v.license_plate,
                )
            templates.append(request.SerializeToString())
            del spare[: len(spare) - 64]
    return templates[:count]


def with_request_id(template: bytes) -> bytes:
    return REQUEST_ID_TAG + str(uuid.uuid4()).encode() + template


# --------------------------------------------------------------------------------------------------------------
# Load, run in client processes of their own (spawned), so their CPU is counted apart from the server's


@dataclass
class CallLog:
    """What one client process saw: answers, gRPC errors by code, latencies (µs) and the timed window."""

    completed: int = 0
    # Answers that came within the timed window (closed loop: the calls in flight at the deadline finish after
    # it; open loop: a server that falls behind answers the backlog after the schedule ends).
    in_window: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_us: list[int] = field(default_factory=list)
    seconds: float = 0.0
    # Open loop: calls that left more than 5 ms after their scheduled time (the client fell behind).
    late_starts: int = 0
    answers: list[bytes] = field(default_factory=list)
    # With change_every: when each issued invoice was answered (wall clock), by invoice id.
    answered_at: dict[int, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self, error: Exception) -> None:
        code = getattr(error, "code", None)
        name = code().name if callable(code) else type(error).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


@dataclass
class IssueLoad:
    """IssueInvoice (or, for the floor, one fixed request to ``path``) from ``channels`` connections.

    ``concurrency`` calls in flight (closed loop) for ``seconds`` or until ``count`` calls are made; or, with
    ``rate``, calls started on a fixed schedule (open loop) for ``seconds``. ``change_every``: every n-th issued
    invoice is then voided (paper) or certified, as a second call, and each answer's arrival is noted.
    ``keep_answers``: keep every answer."""

    target: str
    token: str = field(repr=False)  # the API key of a taxpayer acting for every seller (and buyer) it sends
    templates: list[bytes] = field(default_factory=list, repr=False)
    body: bytes = b""
    path: str = ISSUE_PATH
    concurrency: int = 0
    rate: float = 0.0
    seconds: float = 0.0
    count: int = 0
    channels: int = CHANNELS
    change_every: int = 0
    keep_answers: bool = False

    async def prepare(self) -> None:
        import grpc

        options = [("grpc.use_local_subchannel_pool", 1)]
        self._channels = [grpc.aio.insecure_channel(self.target, options=options) for _ in range(self.channels)]
        await asyncio.gather(*(asyncio.wait_for(c.channel_ready(), 10) for c in self._channels))
        self._calls = [c.unary_unary(self.path) for c in self._channels]
        self._changes = [(c.unary_unary(VOID_PATH), c.unary_unary(CERTIFY_PATH)) for c in self._channels]
        self._metadata = (("authorization", f"Bearer {self.token}"),)
        self._next = 0
        self._deadline = float("inf")

    def _request(self) -> bytes:
        self._next += 1
        if not self.templates:
            return self.body
        return with_request_id(self.templates[self._next % len(self.templates)])

    async def _one(self, log_: CallLog, started: float) -> None:
        number = self._next
        try:
            answer = await self._calls[number % self.channels](self._request(), metadata=self._metadata, timeout=30)
        except Exception as error:  # every failure is counted by its code and reported
            log_.error(error)
            return
        done = time.perf_counter()
        log_.completed += 1
        log_.in_window += done <= self._deadline
        log_.latencies_us.append(round((done - started) * 1e6))
        if self.keep_answers:
            log_.answers.append(answer)
        if self.change_every:
            await self._change(answer, number, log_)

    async def _change(self, answer: bytes, number: int, log_: CallLog) -> None:
        from fapiao.v1 import invoice_service_pb2 as pb

        invoice = pb.IssueInvoiceResponse.FromString(answer).invoice
        log_.answered_at[int(invoice.id)] = time.time()
        if number % self.change_every:
            return
        void, certify = self._changes[number % self.channels]
        request_id = str(uuid.uuid4())
        try:
            if invoice.invoice_code:  # paper: voided in its month of issue
                request = pb.VoidInvoiceRequest(request_id=request_id, reason="开错了")
                request.invoice.id = invoice.id
                await void(request.SerializeToString(), metadata=self._metadata, timeout=30)
            else:
                request = pb.CertifyInvoiceRequest(request_id=request_id)
                request.invoice.id = invoice.id
                await certify(request.SerializeToString(), metadata=self._metadata, timeout=30)
            log_.extra["changes"] = log_.extra.get("changes", 0) + 1
        except Exception as error:
            log_.error(error)

    async def run(self, _control: Connection) -> CallLog:
        log_ = CallLog()
        began = time.perf_counter()
        if self.rate:
            await self._open_loop(log_, began)
        else:
            await self._closed_loop(log_, began)
        log_.seconds = self.seconds or time.perf_counter() - began
        for channel in self._channels:
            await channel.close()
        return log_

    async def _closed_loop(self, log_: CallLog, began: float) -> None:
        deadline = self._deadline = began + self.seconds if self.seconds else float("inf")
        budget = [self.count or -1]

        async def caller() -> None:
            while time.perf_counter() < deadline and budget[0] != 0:
                budget[0] -= 1
                await self._one(log_, time.perf_counter())

        await asyncio.gather(*(caller() for _ in range(self.concurrency)))

    async def _open_loop(self, log_: CallLog, began: float) -> None:
        self._deadline = began + self.seconds
        period = 1.0 / self.rate
        total = round(self.rate * self.seconds)
        tasks: set[asyncio.Task[None]] = set()
        for index in range(total):
            due = began + index * period
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.005:
                log_.late_starts += 1
            task = asyncio.create_task(self._one(log_, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        log_.extra["drain_seconds"] = round(max(0.0, time.perf_counter() - self._deadline), 2)


@dataclass
class ServiceLoad:
    """The server's own IssueInvoice use case without gRPC: parse the request, LifecycleService.issue (the same
    group commit and SQL, on a pool sized as a worker's), build and serialize the answer; closed loop."""

    database_url: str
    actor: Any  # the Principal issuing, a taxpayer for every seller of the templates
    templates: list[bytes] = field(repr=False)
    concurrency: int
    seconds: float

    async def prepare(self) -> None:
        from fapiao_server.config import Settings
        from fapiao_server.keys.data_keys import prepare_keys
        from fapiao_server.keys.master_key import configured_keyring
        from fapiao_server.keys.signing import signing_key
        from fapiao_server.services.lifecycle import LifecycleService
        from fapiao_server.storage.database import create_pool
        from fapiao_server.storage.issuing import PostgresIssuer
        from fapiao_server.storage.lifecycle import PostgresLifecycle

        settings = Settings()
        # All of a worker's connections open before the clock starts, so the CPU meter finds every backend.
        self._pool = create_pool(
            self.database_url,
            min_size=settings.db_pool_max,
            max_size=settings.db_pool_max,
            acquire_timeout=settings.db_acquire_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        await self._pool.open(wait=True)
        keyring = configured_keyring(settings)
        prepare_keys(self.database_url, keyring)
        # Sealed and signed as `fapiao serve` does (the keys under the data dir, as on a fresh machine).
        key = signing_key(settings.signing_key_file, settings.data_dir)
        self._service = LifecycleService(
            PostgresLifecycle(self._pool, keyring, signer=key), PostgresIssuer(self._pool, keyring, signer=key)
        )

    async def run(self, _control: Connection) -> CallLog:
        from fapiao.v1 import invoice_service_pb2 as pb
        from fapiao_server.transport import lifecycle_converters as convert
        from fapiao_server.transport.converters import invoice_message

        log_ = CallLog()
        began = time.perf_counter()
        deadline = began + self.seconds
        index = [0]

        async def caller() -> None:
            while time.perf_counter() < deadline:
                index[0] += 1
                started = time.perf_counter()
                request = pb.IssueInvoiceRequest.FromString(with_request_id(self.templates[index[0] % TEMPLATES]))
                try:
                    invoice = await self._service.issue(
                        convert.issue_request(request), actor=self.actor, request_id=request.request_id
                    )
                except Exception as error:
                    log_.error(error)
                    continue
                pb.IssueInvoiceResponse(invoice=invoice_message(invoice)).SerializeToString()
                log_.completed += 1
                log_.latencies_us.append(round((time.perf_counter() - started) * 1e6))

        await asyncio.gather(*(caller() for _ in range(self.concurrency)))
        log_.seconds = self.seconds
        await self._pool.close()
        return log_


@dataclass
class WatchLoad:
    """``watchers`` WatchInvoices streams on one tax id, one connection each. Ready once every stream has its
    first answer; then records each answer's arrival until the parent sends the event ids every watcher must
    have seen, and every watcher has them (or ``drain_seconds`` pass)."""

    target: str
    token: str = field(repr=False)
    tax_id: str
    watchers: int
    drain_seconds: float = 30.0

    async def prepare(self) -> None:
        import grpc

        from fapiao.v1 import invoice_service_pb2 as pb

        options = [("grpc.use_local_subchannel_pool", 1)]
        self._channels = [grpc.aio.insecure_channel(self.target, options=options) for _ in range(self.watchers)]
        request = pb.WatchInvoicesRequest(tax_id=self.tax_id).SerializeToString()
        metadata = (("authorization", f"Bearer {self.token}"),)
        self._streams = [c.unary_stream(WATCH_PATH)(request, metadata=metadata) for c in self._channels]
        self.received: list[list[tuple[float, bytes]]] = [[] for _ in range(self.watchers)]
        self.counts = [0] * self.watchers
        self._wanted = 1 << 62  # until the parent says how many events there are
        self._all_seen = asyncio.Event()
        await asyncio.gather(*(asyncio.wait_for(stream.read(), 30) for stream in self._streams))
        self._readers = [asyncio.create_task(self._read(i)) for i in range(self.watchers)]

    async def _read(self, index: int) -> None:
        from fapiao.v1 import invoice_service_pb2 as pb

        stream, received = self._streams[index], self.received[index]
        while True:
            answer = await stream.read()
            if not isinstance(answer, bytes):
                return
            received.append((time.time(), answer))
            # Counting events needs a parse; heartbeats (no events) are rare, so count by parsing lazily.
            self.counts[index] += len(pb.WatchInvoicesResponse.FromString(answer).events)
            self._caught_up()

    def _caught_up(self) -> None:
        if min(self.counts) >= self._wanted:
            self._all_seen.set()

    async def run(self, control: Connection) -> CallLog:
        began = time.perf_counter()
        expected, answered_at = await asyncio.to_thread(control.recv)
        self._wanted = len(expected)
        self._caught_up()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_seen.wait(), self.drain_seconds)
        log_ = CallLog(seconds=time.perf_counter() - began)
        for stream in self._streams:
            stream.cancel()
        for channel in self._channels:
            await channel.close()
        log_.extra = self._summary(expected, answered_at)
        log_.latencies_us = log_.extra.pop("latencies_us")
        log_.completed = sum(self.counts)
        return log_

    def _summary(self, expected: list[int], answered_at: dict[int, float]) -> dict[str, Any]:
        """Per watcher: the events in the order received, against ``expected``; latencies from event_time (the
        start of the writing transaction) and, for ISSUED events, from the issuer's answer (after the commit)."""
        from fapiao.v1 import invoice_service_pb2 as pb

        latencies: list[int] = []
        after_answer: list[int] = []
        wrong, firsts, lasts = 0, [], []
        for received in self.received:
            ids = []
            for arrived, answer in received:
                for event in pb.WatchInvoicesResponse.FromString(answer).events:
                    ids.append(int(event.id))
                    sent = event.event_time.seconds + event.event_time.nanos / 1e9
                    latencies.append(round((arrived - sent) * 1e6))
                    answered = answered_at.get(int(event.invoice.id)) if event.event_type == ISSUED else None
                    if answered is not None:
                        after_answer.append(round((arrived - answered) * 1e6))
            wrong += ids != expected
            stamps = [arrived for arrived, answer in received if answer]
            firsts.append(stamps[1] if len(stamps) > 1 else 0.0)
            lasts.append(stamps[-1] if stamps else 0.0)
        return {
            "latencies_us": latencies,
            "watchers_wrong": wrong,
            "per_watcher_events": sorted(self.counts),
            "after_answer_ms": loadgen.percentiles_ms(after_answer),
            "first_event_at": min(f for f in firsts if f) if any(firsts) else 0.0,
            "last_event_at": max(lasts),
        }


Load = IssueLoad | ServiceLoad | WatchLoad


def _client_process(load: Load, control: Connection) -> None:
    """A spawned client: prepare, say ready, wait for go, run, send the log, wait to be let go (so the parent
    can read this process's CPU time before it exits)."""

    async def main() -> None:
        await load.prepare()
        control.send("ready")
        await asyncio.to_thread(control.recv)
        control.send(await load.run(control))

    try:
        asyncio.run(main())
    except Exception as error:
        control.send(RuntimeError(f"{type(load).__name__} failed: {error!r}"))
    control.recv()


class Client:
    """A spawned client process and its control pipe."""

    def __init__(self, load: Load) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self.process = context.Process(target=_client_process, args=(load, child), daemon=True)
        self.process.start()
        self.result: CallLog | None = None

    def ready(self) -> Client:
        if not self._control.poll(CLIENT_READY_SECONDS):
            raise RuntimeError("a client process did not get ready")
        message = self._control.recv()
        if isinstance(message, Exception):
            raise message
        return self

    def send(self, message: object) -> None:
        self._control.send(message)

    def wait(self, timeout: float) -> CallLog:
        if self.result is not None:
            return self.result
        if not self._control.poll(timeout):
            raise RuntimeError(f"a client process did not finish within {timeout:.0f} s")
        message = self._control.recv()
        if isinstance(message, Exception):
            raise message
        self.result = message
        return message

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._control.send("exit")
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# --------------------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Measurement:
    """One timed load: the merged client logs and where the CPU went."""

    title: str
    logs: list[CallLog]
    cpu: cpu.CpuShares

    @property
    def completed(self) -> int:
        return sum(log_.completed for log_ in self.logs)

    @property
    def seconds(self) -> float:
        return max(log_.seconds for log_ in self.logs)

    @property
    def per_second(self) -> float:
        """Answers per second within the timed window."""
        counted = sum(log_.in_window or log_.completed for log_ in self.logs)
        return counted / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for log_ in self.logs:
            for code, n in log_.errors.items():
                merged[code] = merged.get(code, 0) + n
        return merged

    def percentiles(self) -> tuple[float | None, float | None]:
        return loadgen.percentiles_ms([d for log_ in self.logs for d in log_.latencies_us])

    def summary(self) -> dict[str, Any]:
        p50, p99 = self.percentiles()
        data = {
            "title": self.title,
            "per_second": round(self.per_second, 1),
            "completed": self.completed,
            "seconds": round(self.seconds, 2),
            "p50_ms": p50,
            "p99_ms": p99,
            "errors": self.errors,
            "late_starts": sum(log_.late_starts for log_ in self.logs),
            "cpu_cores": self.cpu.summary(),
        }
        for log_ in self.logs:
            for key, value in log_.extra.items():
                if isinstance(value, int | float) and key not in (
                    "first_event_at",
                    "last_event_at",
                ):
                    data[key] = data.get(key, 0) + value
        return data


class Bench:
    def __init__(self, options: argparse.Namespace, workdir: Path) -> None:
        self.o = options
        self.workdir = workdir
        self.database = ""
        self.database_url = ""
        self.server: environment.ServerProcess | None = None
        self.floors: dict[int, environment.ServerProcess] = {}
        self.templates: dict[int, list[bytes]] = {}
        self.floor_body = b""
        self.issuer: Any = None  # the taxpayer principal of every template's seller and buyer
        self.token = ""  # its API key

    def measure(
        self,
        title: str,
        server: environment.ServerProcess | None,
        loads: Sequence[Load],
        *,
        timeout: float,
        during: Callable[[list[Client]], None] | None = None,
    ) -> Measurement:
        """Start a client process per load, wait until all are ready, then time them together under a CPU
        meter. ``during`` runs in this process once they are going (it may talk to the clients)."""
        clients: list[Client] = []
        try:
            clients = [Client(load) for load in loads]
            for client in clients:
                client.ready()
            servers = [] if server is None else [server.pid, *server.worker_pids()]
            meter = cpu.CpuMeter(
                lambda: servers,
                lambda: verification_bench.backend_pids(self.o.admin_url, [self.database]),
            )
            with meter:
                before = {c.process.pid: cpu.process_seconds(c.process.pid) for c in clients}
                for client in clients:
                    client.send("go")
                if during is not None:
                    during(clients)
                logs = [client.wait(timeout) for client in clients]
                used = sum(cpu.process_seconds(pid) - start for pid, start in before.items() if pid)
            assert meter.shares is not None
            shares = dataclasses.replace(meter.shares, loadgen=used / meter.shares.seconds)
        finally:
            for client in clients:
                client.close()
        return Measurement(title, logs, shares)

    def issue(self, title: str, lines: int, **load: Any) -> Measurement:
        assert self.server is not None
        loads = [IssueLoad(self.server.address, self.token, self.templates[lines], **load)]
        result = self.measure(title, self.server, loads, timeout=_timeout(load))
        _log_run(result)
        return result

    def floor(self, title: str, lines: int, **load: Any) -> Measurement:
        server = self.floors[lines]
        loads = [
            IssueLoad(
                server.address,
                self.token,  # the floor checks none
                body=self.floor_body,
                path=FLOOR_PATH,
                **load,
            )
        ]
        result = self.measure(title, server, loads, timeout=_timeout(load))
        _log_run(result)
        return result


def _timeout(load: dict[str, Any]) -> float:
    return load.get("seconds", 0) + load.get("count", 0) / 200 + 60


def _log_run(m: Measurement) -> None:
    p50, p99 = m.percentiles()
    errors = f", errors {m.errors}" if m.errors else ""
    log(f"  {m.title}: {m.per_second:,.0f}/s, p50 {_ms(p50)} ms, p99 {_ms(p99)} ms{errors}")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


# --------------------------------------------------------------------------------------------------------------
# Scenarios


def issue_scenario(bench: Bench, lines: int) -> dict[str, Any]:
    """Maximum (probe, then interleaved rounds with the floor), then an open loop at the target rate."""
    o = bench.o
    key = f"{lines}line"
    bench.issue(
        f"issue-{key}-warmup",
        lines,
        concurrency=QUICK_CONCURRENCY,
        seconds=o.warmup_seconds,
    )
    bench.floor(
        f"floor-{key}-warmup",
        lines,
        concurrency=QUICK_CONCURRENCY,
        seconds=o.warmup_seconds,
    )
    best = {"issue": QUICK_CONCURRENCY, "floor": QUICK_CONCURRENCY}
    probes: dict[str, list[dict[str, Any]]] = {"issue": [], "floor": []}
    if not o.quick:
        log(f"IssueInvoice, {lines} line(s): probing concurrency {PROBE_CONCURRENCY}")
        for concurrency in PROBE_CONCURRENCY:
            for kind, measure in (("issue", bench.issue), ("floor", bench.floor)):
                probe = measure(f"{kind}-{key}-probe", lines, concurrency=concurrency, seconds=o.probe_seconds)
                probes[kind].append(probe.summary() | {"concurrency": concurrency})
        for kind in best:
            best[kind] = max(probes[kind], key=lambda p: p["per_second"])["concurrency"]
    log(f"IssueInvoice, {lines} line(s): {o.rounds} interleaved round(s) at the maximum")
    rounds: dict[str, list[Measurement]] = {"issue": [], "floor": []}
    for _ in range(o.rounds):
        for kind, measure in (("floor", bench.floor), ("issue", bench.issue)):
            rounds[kind].append(measure(f"{kind}-{key}-max", lines, concurrency=best[kind], seconds=o.round_seconds))
    at_rate = {
        "issue": bench.issue(f"issue-{key}-rate", lines, rate=o.rate, seconds=o.rate_seconds),
        "floor": bench.floor(f"floor-{key}-rate", lines, rate=o.rate, seconds=o.rate_seconds),
    }
    ratios = [i.per_second / f.per_second for i, f in zip(rounds["issue"], rounds["floor"], strict=True)]
    out: dict[str, Any] = {"lines": lines, "concurrency": best, "probes": probes}
    out["at_rate_h2load"] = h2load_at_rate(bench, lines)
    if o.sweep:
        # Latency below the target rate, for the rate at which this machine does meet a p99 (docs/performance.md).
        log(f"IssueInvoice, {lines} line(s): h2load open loop at {', '.join(f'{r:g}' for r in o.sweep)}/s")
        out["h2load_sweep"] = [h2load_at_rate(bench, lines, rate=r, repeats=1, floor=False) for r in o.sweep]
    for kind in ("issue", "floor"):
        runs = rounds[kind]
        p50, p99 = loadgen.percentiles_ms([d for m in runs for lg in m.logs for d in lg.latencies_us])
        out[kind] = {
            "per_second": round(statistics.median(m.per_second for m in runs), 1),
            "p50_ms": p50,
            "p99_ms": p99,
            "rounds": [m.summary() for m in runs],
            "at_rate": at_rate[kind].summary(),
        }
    out["ratio_to_floor"] = round(statistics.median(ratios), 3)
    out["round_ratios"] = [round(r, 3) for r in ratios]
    return out


# The open loop again with h2load as the client: a C load generator takes a few hundredths of a core where the
# Python client takes about 0.3 of the box's 2, so the latency left is the server's own.
H2LOAD_BODIES = 20


def h2load_at_rate(
    bench: Bench, lines: int, *, rate: float | None = None, repeats: int | None = None, floor: bool = True
) -> dict[str, Any] | None:
    """An open loop at ``rate`` (default --rate) measured with h2load ``repeats`` times (default --rate-repeats) for
    the server, and once for the floor unless ``floor`` is false (None without h2load). h2load repeats one body
    per process, so the requests carry no request_id (each call issues a new invoice); and it counts any HTTP 200
    as success while gRPC errors travel in trailers, so the invoices the register gained are counted too."""
    h2load = shutil.which("h2load")
    if h2load is None or bench.server is None:
        return None
    o = bench.o
    folder = bench.workdir / f"h2load-{lines}"
    folder.mkdir(exist_ok=True)
    bodies = []
    for index, template in enumerate(bench.templates[lines][:H2LOAD_BODIES]):
        bodies.append(folder / f"issue-{index}.bin")
        bodies[-1].write_bytes(loadgen.grpc_frame(template))
    floor_body = folder / "floor.bin"
    floor_body.write_bytes(loadgen.grpc_frame(bench.floor_body))
    per_connection = max(1, round((rate or o.rate) / len(bodies)))
    offered = per_connection * len(bodies)

    def fleet(kind: str, server: environment.ServerProcess, url: str, run_bodies: list[Path]) -> dict[str, Any]:
        pids = [server.pid, *server.worker_pids()]
        meter = cpu.CpuMeter(lambda: pids, lambda: verification_bench.backend_pids(o.admin_url, [bench.database]))
        with meter:
            result = loadgen.h2load_fleet(
                h2load, url, run_bodies, streams=8, duration=o.rate_seconds, caller=f"bench-h2load-{kind}-{lines}",
                credential=bench.token, log_dir=folder, rps_per_connection=per_connection,
            )  # fmt: skip
        assert meter.shares is not None
        p50, p99 = loadgen.percentiles_ms(result.durations_us)
        log(
            f"  {kind}-{lines}line-rate-h2load at {offered:,}/s: {result.requests_per_second:,.0f}/s, "
            f"p50 {_ms(p50)} ms, p99 {_ms(p99)} ms, CPU {_cores(meter.shares.summary())}"
        )
        return {
            "per_second": round(result.requests_per_second, 1),
            "started": result.started,
            "succeeded": result.succeeded,
            "failed": result.failed + result.errored + result.timeouts,
            "p50_ms": p50,
            "p99_ms": p99,
            "cpu_cores": meter.shares.summary(),
        }

    # The open loop's p99 moves a lot between runs on two shared cores (one stall backs up a second of arrivals),
    # so the server's is measured --rate-repeats times, each with its own CPU and host steal.
    before = _invoice_count(bench.database_url)
    issue_url = f"http://{bench.server.address}{ISSUE_PATH}"
    issues = [fleet("issue", bench.server, issue_url, bodies) for _ in range(repeats or o.rate_repeats)]
    issued = _invoice_count(bench.database_url) - before
    floor_run = None
    if floor:
        floor_run = fleet("floor", bench.floors[lines], f"http://{bench.floors[lines].address}{FLOOR_PATH}",
                          [floor_body] * len(bodies))  # fmt: skip
    p99s = [run_["p99_ms"] for run_ in issues if run_["p99_ms"] is not None]
    by_p99 = sorted(issues, key=lambda r: r["p99_ms"] if r["p99_ms"] is not None else float("inf"))
    out: dict[str, Any] = {
        "offered": offered,
        "invoices_issued": issued,
        # The headline figures are the median run's; every run is kept in "runs".
        "issue": by_p99[len(issues) // 2] | {"p99s_ms": p99s, "runs": issues},
        "floor": floor_run,
    }
    # Every call h2load counted as done issued an invoice (a gRPC error would issue none); calls cut off in flight
    # at the end may have issued one too, so the register may hold up to as many as h2load started.
    succeeded = sum(r["succeeded"] for r in issues)
    started = sum(r["started"] for r in issues)
    out |= {"succeeded": succeeded, "started": started}
    out["ok"] = succeeded <= issued <= started and all(r["failed"] == 0 for r in issues)
    return out


def _invoice_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM invoices").fetchone()
    return int(row[0]) if row else 0


def service_baseline(bench: Bench, lines: int, concurrency: int) -> dict[str, Any]:
    """LifecycleService.issue without gRPC, from as many processes as the server has workers."""
    o = bench.o
    per_process = max(1, concurrency // o.workers)
    loads = [
        ServiceLoad(bench.database_url, bench.issuer, bench.templates[lines], per_process, o.round_seconds)
        for _ in range(o.workers)
    ]
    result = bench.measure(f"service-{lines}line", None, loads, timeout=o.round_seconds + 60)
    _log_run(result)
    return result.summary() | {
        "processes": o.workers,
        "concurrency_per_process": per_process,
    }


def numbering_check(bench: Bench) -> dict[str, Any]:
    """Issue ``--issues`` invoices as concurrently as the client allows, then check the numbering in SQL."""
    o = bench.o
    assert bench.server is not None
    log(f"numbering: {o.issues:,} concurrent issues ({o.check_concurrency} in flight)")
    templates = bench.templates[1]
    load = IssueLoad(
        bench.server.address,
        bench.token,
        templates,
        concurrency=o.check_concurrency,
        count=o.issues,
        keep_answers=True,
    )
    run_ = bench.measure("numbering", bench.server, [load], timeout=o.issues / 100 + 120)
    _log_run(run_)
    answers = [a for log_ in run_.logs for a in log_.answers]
    checks = register_checks(bench.database_url) | answer_checks(bench.database_url, answers)
    checks["issued"] = run_.completed
    checks["errors"] = run_.errors
    checks["ok"] = checks["ok"] and checks["answers_ok"] and run_.completed == o.issues and not run_.errors
    log(f"  numbering check {'passed' if checks['ok'] else 'FAILED'}: {json.dumps(_brief(checks))}")
    return run_.summary() | {"checks": checks}


def _brief(checks: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in checks.items() if not isinstance(v, list)}


NUMBERING_SQL = """
WITH numbered AS (
    SELECT CASE WHEN invoice_code = '' THEN left(invoice_number, 5) ELSE invoice_code END AS prefix,
           CASE WHEN invoice_code = '' THEN substr(invoice_number, 6)::bigint ELSE invoice_number::bigint END AS n,
           invoice_code = '' AS digital, length(invoice_number) AS digits
    FROM invoices
)
SELECT c.prefix, c.next_value - 1 AS expected, count(n.n) AS invoices, count(DISTINCT n.n) AS distinct_numbers,
       min(n.n) AS lowest, max(n.n) AS highest,
       count(*) FILTER (WHERE n.digits <> CASE WHEN n.digital THEN 20 ELSE 8 END) AS bad_length
FROM number_counters c LEFT JOIN numbered n ON n.prefix = c.prefix
GROUP BY c.prefix, c.next_value
ORDER BY c.prefix
"""


def register_checks(url: str) -> dict[str, Any]:
    """Every counter's invoices are numbered exactly 1..next_value-1 (legacy: the invoice code is the prefix and
    the number has 8 digits; 数电: the first 5 of 20 digits, no code); no invoice outside a counter; every
    invoice has exactly one ISSUED event."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET statement_timeout = '300s'")
        counters = conn.execute(NUMBERING_SQL).fetchall()
        outside = conn.execute(
            "SELECT count(*) FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM number_counters c WHERE c.prefix = "
            "CASE WHEN i.invoice_code = '' THEN left(i.invoice_number, 5) ELSE i.invoice_code END)"
        ).fetchone()[0]  # type: ignore[index]
        (invoices, not_once) = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE coalesce(e.n, 0) <> 1) FROM invoices i LEFT JOIN "
            "(SELECT invoice_id, count(*) AS n FROM invoice_events WHERE event_type = %s GROUP BY 1) e "
            "ON e.invoice_id = i.id",
            (ISSUED,),
        ).fetchone()  # type: ignore[misc]
        orphans = conn.execute(
            "SELECT count(*) FROM invoice_events e WHERE event_type = %s AND NOT EXISTS "
            "(SELECT 1 FROM invoices i WHERE i.id = e.invoice_id)",
            (ISSUED,),
        ).fetchone()[0]  # type: ignore[index]
    bad = []
    for prefix, expected, count, distinct, lowest, highest, bad_length in counters:
        duplicates = count - distinct
        exact = count == expected and distinct == expected and bad_length == 0
        exact = exact and (expected == 0 or (lowest == 1 and highest == expected))
        if not exact:
            bad.append(
                {
                    "prefix": prefix,
                    "expected": expected,
                    "invoices": count,
                    "duplicates": duplicates,
                    "lowest": lowest,
                    "highest": highest,
                    "bad_length": bad_length,
                }
            )
    return {
        "prefixes": len(counters),
        "invoices": invoices,
        "numbered_invoices": sum(row[2] for row in counters),
        "prefixes_wrong": bad[:20],
        "prefixes_wrong_count": len(bad),
        "invoices_outside_counters": outside,
        "invoices_without_exactly_one_issued_event": not_once,
        "issued_events_without_invoice": orphans,
        "ok": not bad and outside == 0 and not_once == 0 and orphans == 0,
    }


def answer_checks(url: str, answers: list[bytes]) -> dict[str, Any]:
    """Every answer names a different invoice, and each is stored with the code and number answered."""
    import psycopg

    from fapiao.v1 import invoice_service_pb2 as pb

    answered = [pb.IssueInvoiceResponse.FromString(a).invoice for a in answers]
    keys = {(i.invoice_code, i.invoice_number) for i in answered}
    ids = [int(i.id) for i in answered]
    with psycopg.connect(url) as conn:
        stored = dict(
            (row[0], (row[1], row[2]))
            for row in conn.execute(
                "SELECT id, invoice_code, invoice_number FROM invoices WHERE id = ANY(%s)",
                (ids,),
            ).fetchall()
        )
    differ = sum(1 for i in answered if stored.get(int(i.id)) != (i.invoice_code, i.invoice_number))
    return {
        "answers": len(answered),
        "answers_duplicate_numbers": len(answered) - len(keys),
        "answers_duplicate_ids": len(ids) - len(set(ids)),
        "answers_not_stored_as_answered": differ,
        "answers_ok": len(keys) == len(answered) == len(set(ids)) and differ == 0,
    }


def watch_scenario(bench: Bench, rate: float) -> dict[str, Any]:
    """``--watchers`` watchers of one seller while its invoices are issued and changed at ``rate`` events/s."""
    o = bench.o
    assert bench.server is not None
    from fapiao.v1 import invoice_service_pb2 as pb

    # A seller of its own per run (a fresh seed): the watchers must see exactly the events of this run.
    templates = issue_templates(200, 1, seed=uuid.uuid4().int, sellers=1, types=WATCH_TYPES)
    seller = pb.IssueInvoiceRequest.FromString(templates[0]).seller.tax_id
    # A taxpayer of its own: the seller who issues and watches, and the buyers who certify.
    _, token = taxpayer(bench.database_url, f"bench-watch-{seller.lower()}", templates)
    # Every other invoice is voided (paper) or certified (数电): 1.5 events per issue.
    issue_rate = rate / 1.5
    watchers = WatchLoad(
        bench.server.address,
        token,
        seller,
        o.watchers,
        drain_seconds=o.watch_drain,
    )
    driver = IssueLoad(
        bench.server.address,
        token,
        templates,
        rate=issue_rate,
        seconds=o.watch_seconds,
        change_every=2,
        channels=2,
    )
    log(f"WatchInvoices: {o.watchers} watchers of {seller}, {rate:g} events/s for {o.watch_seconds:g} s")

    def drive(clients: list[Client]) -> None:
        watching, driving = clients
        driving.wait(o.watch_seconds + 60)
        assert driving.result is not None
        watching.send((seller_event_ids(bench.database_url, seller), driving.result.answered_at))

    result = bench.measure(
        f"watch-{rate:g}", bench.server, [watchers, driver], timeout=o.watch_drain + 60, during=drive
    )
    seen, drove = result.logs
    extra = seen.extra
    expected = int(drove.completed * 1.5)
    window = max(1e-6, extra["last_event_at"] - extra["first_event_at"])
    p50, p99 = loadgen.percentiles_ms(seen.latencies_us)
    per_watcher = extra["per_watcher_events"]
    summary = {
        "rate_offered": rate,
        "watchers": o.watchers,
        "seller": seller,
        "issued": drove.completed,
        "changes": drove.extra.get("changes", 0),
        "driver_errors": drove.errors,
        "events": per_watcher[-1] if per_watcher else 0,
        "events_expected_approx": expected,
        "delivered": seen.completed,
        "window_seconds": round(window, 2),
        "delivered_per_second": round(seen.completed / window, 1),
        "per_watcher_per_second": {
            "min": round(per_watcher[0] / window, 1),
            "median": round(statistics.median(per_watcher) / window, 1),
            "max": round(per_watcher[-1] / window, 1),
        },
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_max_ms": max(seen.latencies_us) / 1000 if seen.latencies_us else None,
        # Issued events only, from the issuer's answer: what a watcher waits beyond the writing transaction.
        "after_answer_p50_ms": extra["after_answer_ms"][0],
        "after_answer_p99_ms": extra["after_answer_ms"][1],
        "watchers_wrong": extra["watchers_wrong"],
        "cpu_cores": result.cpu.summary(),
    }
    summary["ok"] = summary["watchers_wrong"] == 0 and not drove.errors and summary["events"] > 0
    log(
        f"  {seen.completed:,} events delivered in {window:.1f} s ({summary['delivered_per_second']:,.0f}/s), "
        f"latency p50 {_ms(p50)} ms, p99 {_ms(p99)} ms; watchers with a wrong sequence: {extra['watchers_wrong']}"
    )
    return summary


def analyze(url: str) -> str:
    """ANALYZE the bench database, as autovacuum would have by now (plans of the lifecycle's reads depend on
    it); returns the server's autovacuum setting."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '300s'")
        conn.execute("ANALYZE")
        return str(conn.execute("SHOW autovacuum").fetchone()[0])  # type: ignore[index]


def seller_event_ids(url: str, tax_id: str) -> list[int]:
    """The seller's events in the register's order (the order watchers must see them in)."""
    import psycopg

    time.sleep(0.5)  # the driver's last answers are committed; let the feed's follow-up polls find them
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM invoice_events WHERE seller_tax_id = %s OR buyer_tax_id = %s ORDER BY xid, id",
            (tax_id, tax_id),
        ).fetchall()
    return [row[0] for row in rows]


def profile(bench: Bench, name: str, seconds: float, load: Callable[[], object]) -> dict[str, Any]:
    """py-spy the busiest worker of the server while ``load`` runs in a thread."""
    assert bench.server is not None and bench.o.profile is not None
    py_spy = environment.tool("py-spy")
    if not py_spy:
        return {"name": name, "error": "py-spy is not installed (pip install py-spy)"}
    thread = threading.Thread(target=load, daemon=True, name=f"load-{name}")
    thread.start()
    time.sleep(2.0)  # client processes start and connect
    pid = cpu.busiest(bench.server.worker_pids(), window=1.0)
    raw = bench.o.profile / f"{name}.collapsed.txt"
    error = pyspy.record(py_spy, pid, seconds, raw) if pid else "no worker found"
    thread.join(timeout=seconds + 180)
    if error:
        return {"name": name, "error": error}
    return {"name": name, "pid": pid, "file": str(raw), **pyspy.summarise(raw)}


def profiles(bench: Bench, issue: dict[str, Any]) -> list[dict[str, Any]]:
    o = bench.o
    o.profile.mkdir(parents=True, exist_ok=True)
    seconds = o.profile_seconds
    found = []
    for lines in LINE_COUNTS:
        concurrency = issue[lines]["concurrency"]["issue"]
        log(f"profiling a worker under IssueInvoice, {lines} line(s), {concurrency} in flight")
        found.append(
            profile(
                bench,
                f"issue-{lines}line-max",
                seconds,
                lambda c=concurrency, n=lines: bench.issue(
                    f"issue-{n}line-profile", n, concurrency=c, seconds=seconds + 6
                ),
            )
        )
        log(f"profiling a worker under IssueInvoice, {lines} line(s), {o.rate:g}/s open loop")
        found.append(
            profile(
                bench,
                f"issue-{lines}line-rate",
                seconds,
                lambda n=lines: bench.issue(f"issue-{n}line-profile-rate", n, rate=o.rate, seconds=seconds + 6),
            )
        )
    rate = max(o.watch_rates)
    log("profiling a worker under WatchInvoices fan-out")
    found.append(profile(bench, "watch", seconds, lambda: watch_scenario(bench, rate)))
    return found


# --------------------------------------------------------------------------------------------------------------
# The run


def run(options: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
        "machine": verification_bench.machine(),
        "revision": verification_bench.revision(),
    }
    report["extra_settings"] = verification_bench.extra_settings()
    fapiao = str(environment.fapiao_executable())
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="fapiao-lifecycle-"))
        keep = {"workdir": False}
        stack.callback(lambda: keep["workdir"] or shutil.rmtree(workdir, ignore_errors=True))
        bench = Bench(options, workdir)
        bench.database, bench.database_url = environment.create_database(options.admin_url)
        stack.callback(lambda: environment.drop_database(options.admin_url, bench.database))
        prefix = f"fapiao-bench-{bench.database.rsplit('_', 1)[1]}:"
        stack.callback(lambda: environment.clear_redis_namespace(options.redis_url, prefix))
        stack.callback(environment.ignore_signals)  # a second Ctrl-C must not abort the cleanup
        log(f"database {bench.database}, Redis prefix {prefix}, work folder {workdir}")
        env = {
            **os.environ,
            "FAPIAO_DATABASE_URL": bench.database_url,
            "FAPIAO_LOG_LEVEL": "WARNING",
        }
        environment.run_bounded([fapiao, "migrate"], env=env, timeout=120, what="fapiao migrate")
        for lines in LINE_COUNTS:
            bench.templates[lines] = issue_templates(TEMPLATES, lines, seed=20261128 + lines)
        bench.issuer, bench.token = taxpayer(
            bench.database_url, "bench-issuer", [t for lines in LINE_COUNTS for t in bench.templates[lines]]
        )

        common = {
            **env,
            "FAPIAO_MIGRATE_ON_START": "false",
            "FAPIAO_SHUTDOWN_GRACE_SECONDS": "3",
            # One caller issues thousands a second: the rate limit must not refuse it, yet its cost is measured.
            **verification_bench.QUOTA_SETTINGS,
        }
        serve = [
            fapiao,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            str(options.workers),
        ]
        bench.server = environment.ServerProcess(
            "lifecycle",
            serve,
            log_dir=workdir,
            env={**common, "FAPIAO_CACHE": "on", "FAPIAO_REDIS_KEY_PREFIX": prefix}
            | ({} if options.no_redis else {"FAPIAO_REDIS_URL": options.redis_url}),
        )
        stack.callback(bench.server.stop)
        bench.server.launch().wait_ready()
        log(f"fapiao serve at {bench.server.address}")
        report["answer_bytes"] = start_floors(bench, common, stack)
        try:
            issue = {lines: issue_scenario(bench, lines) for lines in LINE_COUNTS}
            report["issue"] = {f"{lines}": entry for lines, entry in issue.items()}
            log("baseline: LifecycleService.issue without gRPC")
            report["service"] = {
                f"{lines}": service_baseline(bench, lines, issue[lines]["concurrency"]["issue"])
                for lines in LINE_COUNTS
            }
            report["numbering"] = numbering_check(bench)
            report["autovacuum"] = analyze(bench.database_url)
            log(f"ANALYZE done (autovacuum is {report['autovacuum']} on this PostgreSQL)")
            report["watch"] = [watch_scenario(bench, rate) for rate in options.watch_rates]
            if options.profile:
                report["profiles"] = profiles(bench, issue)
            # The watch and profile runs issued more: the register must still be numbered exactly.
            report["final_register_check"] = register_checks(bench.database_url)
        except Exception:
            keep["workdir"] = True
            log(f"failed; server logs kept in {workdir}")
            raise
        log("stopping servers, dropping the database")
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    return report


def start_floors(bench: Bench, env: dict[str, str], stack: contextlib.ExitStack) -> dict[str, int]:
    """A floor per line count, answering VerifyInvoice with a real IssueInvoice answer of that size; returns the
    answer sizes. The floor's request is a VerifyInvoiceRequest of one of the issued invoices."""
    from fapiao.v1 import invoice_service_pb2 as pb
    from fapiao.v1 import verification_service_pb2 as vpb

    assert bench.server is not None
    sizes = {}
    for lines in LINE_COUNTS:
        load = IssueLoad(
            bench.server.address, bench.token, bench.templates[lines][:1], concurrency=1, count=1, keep_answers=True
        )
        sample = bench.measure("sample", bench.server, [load], timeout=60)
        if sample.errors or len(sample.logs[0].answers) != 1:
            raise RuntimeError(f"the server did not issue a sample invoice: {sample.errors}")
        answer = sample.logs[0].answers[0]
        canned = bench.workdir / f"canned-{lines}.bin"
        invoice = pb.IssueInvoiceResponse.FromString(answer).invoice
        canned.write_bytes(
            vpb.VerifyInvoiceResponse(outcome=verification_bench.MATCH, invoice=invoice).SerializeToString()
        )
        args = [
            sys.executable,
            str(environment.BENCH_DIR / "noop_server.py"),
            "--listen",
            "127.0.0.1:0",
        ]
        args += ["--workers", str(bench.o.workers), "--response", str(canned)]
        floor = environment.ServerProcess(f"floor-{lines}", args, env=env, log_dir=bench.workdir)
        stack.callback(floor.stop)
        bench.floors[lines] = floor.launch().wait_ready()
        sizes[f"issue_{lines}line"] = len(answer)
        sizes[f"floor_{lines}line"] = canned.stat().st_size
        sizes[f"issue_request_{lines}line"] = len(with_request_id(bench.templates[lines][0]))
    row = verification_bench.batch_invoices(bench.database_url, 1)[0]
    bench.floor_body = verification_bench.verify_request(row).SerializeToString()
    sizes["floor_request"] = len(bench.floor_body)
    log(f"floors at {', '.join(f.address for f in bench.floors.values())}; sizes {sizes}")
    return sizes


# --------------------------------------------------------------------------------------------------------------
# Report


def failures(report: dict[str, Any]) -> list[str]:
    """The correctness checks that failed (an empty list when all held)."""
    failed = []
    numbering = report["numbering"]["checks"]
    if not numbering["ok"]:
        failed.append(f"numbering after {numbering['issued']:,} concurrent issues: {json.dumps(_brief(numbering))}")
    if not report["final_register_check"]["ok"]:
        failed.append(f"numbering at the end of the run: {json.dumps(_brief(report['final_register_check']))}")
    for entry in report["watch"]:
        if not entry["ok"]:
            failed.append(
                f"watch at {entry['rate_offered']:g} events/s: {entry['watchers_wrong']} watchers saw a "
                f"wrong sequence; driver errors {entry['driver_errors']}"
            )
    for lines, entry in report["issue"].items():
        for h2 in [entry.get("at_rate_h2load"), *entry.get("h2load_sweep", [])]:
            if not h2 or h2["ok"]:
                continue
            failed.append(
                f"h2load at {h2['offered']}/s ({lines} line(s)): {h2['succeeded']} calls succeeded of "
                f"{h2['started']} started, {h2['invoices_issued']} invoices issued, "
                f"{sum(r['failed'] for r in h2['issue']['runs'])} failed"
            )
    # The register's errors fail the run. The no-op floor's do not: past its saturation gRPC core answers
    # CANCELLED for calls no handler accepted yet (docs/performance.md), and the report lists them with its figures.
    for lines, entry in report["issue"].items():
        for m in [*entry["issue"]["rounds"], entry["issue"]["at_rate"]]:
            if m["errors"]:
                failed.append(f"{m['title']} ({lines} line(s)): errors {m['errors']}")
    return failed


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool]]:
    rows = []
    for lines, entry in report["issue"].items():
        rate = entry["issue"]["at_rate"]
        rows.append(
            (
                f"IssueInvoice, {lines} line(s): >= {TARGETS['issue_per_second']:,.0f} invoices/s (max)",
                f"{entry['issue']['per_second']:,.0f}",
                entry["issue"]["per_second"] >= TARGETS["issue_per_second"],
            )
        )
        rows.append(
            (
                f"IssueInvoice, {lines} line(s): p99 < {TARGETS['issue_p99_ms']:g} ms at "
                f"{report['options']['rate']:,.0f}/s offered",
                f"{_ms(rate['p99_ms'])} ms ({rate['per_second']:,.0f}/s achieved)",
                rate["p99_ms"] is not None
                and rate["p99_ms"] < TARGETS["issue_p99_ms"]
                and rate["per_second"] >= 0.98 * report["options"]["rate"],
            )
        )
        h2 = entry.get("at_rate_h2load")
        if h2:
            rows.append(
                (
                    f"IssueInvoice, {lines} line(s): p99 < {TARGETS['issue_p99_ms']:g} ms at "
                    f"{h2['offered']:,}/s offered, h2load as the client (median of {len(h2['issue']['runs'])} runs)",
                    f"{_ms(h2['issue']['p99_ms'])} ms ({h2['issue']['per_second']:,.0f}/s achieved; runs "
                    f"{', '.join(_ms(p) for p in h2['issue']['p99s_ms'])} ms; floor p99 "
                    f"{_ms(h2['floor']['p99_ms'])} ms)",
                    h2["issue"]["p99_ms"] is not None
                    and h2["issue"]["p99_ms"] < TARGETS["issue_p99_ms"]
                    and h2["issue"]["per_second"] >= 0.98 * h2["offered"],
                )
            )
    numbering = report["numbering"]["checks"]
    rows.append(
        (
            f"no duplicate or missing number after {numbering['issued']:,} concurrent issues",
            f"{numbering['prefixes']} prefixes, {numbering['prefixes_wrong_count']} wrong",
            numbering["ok"],
        )
    )
    return rows


def _cores(shares: dict[str, float]) -> str:
    return " / ".join(f"{shares[k]:.2f}" for k in ("server", "loadgen", "postgres", "redis", "other", "steal"))


def markdown(report: dict[str, Any]) -> str:
    o, m = report["options"], report["machine"]
    out = []
    failed = failures(report)
    if failed:
        out += ["## Checks FAILED", "", *[f"- {f}" for f in failed], ""]
    out += [
        "## IssueInvoice",
        "",
        f"| Lines | Max invoices/s | p50 / p99 ms at max | In flight | Floor req/s | vs floor | Service alone/s "
        f"| At {o['rate']:,.0f}/s: achieved | p50 / p99 ms | Floor p50 / p99 ms |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for lines, entry in report["issue"].items():
        issue, floor, service = entry["issue"], entry["floor"], report["service"][lines]
        out.append(
            f"| {lines} | {issue['per_second']:,.0f} | {_ms(issue['p50_ms'])} / {_ms(issue['p99_ms'])} "
            f"| {entry['concurrency']['issue']} | {floor['per_second']:,.0f} | {entry['ratio_to_floor']:.2f} "
            f"| {service['per_second']:,.0f} | {issue['at_rate']['per_second']:,.0f} "
            f"| {_ms(issue['at_rate']['p50_ms'])} / {_ms(issue['at_rate']['p99_ms'])} "
            f"| {_ms(floor['at_rate']['p50_ms'])} / {_ms(floor['at_rate']['p99_ms'])} |"
        )
    out += [
        "",
        "Rounds at the maximum (invoices/s; floor req/s), ratio per round, CPU (cores: server / client / "
        "PostgreSQL / Redis / other / host steal):",
        "",
    ]
    for lines, entry in report["issue"].items():
        rates = ", ".join(f"{r['per_second']:,.0f}" for r in entry["issue"]["rounds"])
        floors = ", ".join(f"{r['per_second']:,.0f}" for r in entry["floor"]["rounds"])
        out.append(
            f"- {lines} line(s): {rates}; floor {floors}; ratios {entry['round_ratios']}; CPU "
            f"{_cores(entry['issue']['rounds'][-1]['cpu_cores'])} (floor "
            f"{_cores(entry['floor']['rounds'][-1]['cpu_cores'])})"
        )
        at = entry["issue"]["at_rate"]
        out.append(
            f"- {lines} line(s) at {o['rate']:,.0f}/s: CPU {_cores(at['cpu_cores'])}; client late starts "
            f"{at['late_starts']}; backlog answered {at.get('drain_seconds', 0):g} s after the schedule ended"
        )
        if entry["probes"]["issue"]:
            probes = ", ".join(f"{p['concurrency']}: {p['per_second']:,.0f}" for p in entry["probes"]["issue"])
            floor_probes = ", ".join(f"{p['concurrency']}: {p['per_second']:,.0f}" for p in entry["probes"]["floor"])
            out.append(f"- {lines} line(s) probes (in flight: per s): {probes}; floor {floor_probes}")
        service = report["service"][lines]
        out.append(
            f"- {lines} line(s), service alone ({service['processes']} processes x "
            f"{service['concurrency_per_process']} in flight): {service['per_second']:,.0f}/s, p50 / p99 "
            f"{_ms(service['p50_ms'])} / {_ms(service['p99_ms'])} ms, CPU {_cores(service['cpu_cores'])}"
        )
        sweep = [h2 for h2 in entry.get("h2load_sweep", []) if h2]
        if sweep:
            points = "; ".join(
                f"{h2['offered']:,} -> {h2['issue']['per_second']:,.0f}/s, {_ms(h2['issue']['p50_ms'])} / "
                f"{_ms(h2['issue']['p99_ms'])} ms, server {h2['issue']['cpu_cores']['server']:.2f} cores"
                for h2 in sweep
            )
            out.append(f"- {lines} line(s), h2load open loop (offered -> achieved, p50 / p99): {points}")
    numbering = report["numbering"]
    checks = numbering["checks"]
    out += [
        "",
        "## Numbering",
        "",
        f"{checks['issued']:,} IssueInvoice calls, {o['check_concurrency']} in flight: {numbering['per_second']:,.0f}"
        f"/s, p50 / p99 {_ms(numbering['p50_ms'])} / {_ms(numbering['p99_ms'])} ms; errors {numbering['errors']}.",
        "",
        f"- register: {checks['invoices']:,} invoices under {checks['prefixes']} prefixes; prefixes not numbered "
        f"exactly 1..n: {checks['prefixes_wrong_count']}; invoices outside any counter: "
        f"{checks['invoices_outside_counters']}; invoices without exactly one ISSUED event: "
        f"{checks['invoices_without_exactly_one_issued_event']}",
        f"- answers: {checks['answers']:,}; duplicate numbers {checks['answers_duplicate_numbers']}, duplicate ids "
        f"{checks['answers_duplicate_ids']}, not stored as answered {checks['answers_not_stored_as_answered']}",
        f"- at the end of the run: {report['final_register_check']['invoices']:,} invoices, "
        f"{report['final_register_check']['prefixes_wrong_count']} prefixes wrong: "
        f"{'ok' if report['final_register_check']['ok'] else 'FAILED'}",
        "",
        "## WatchInvoices",
        "",
        "| Offered events/s | Watchers | Events | Delivered | Delivered/s | Per watcher/s (min / median / max) "
        "| Latency p50 / p99 / max ms | From the issuer's answer p50 / p99 ms | Wrong sequences "
        "| CPU (server / client / PostgreSQL / Redis / other / host steal) |",
        "|---:|---:|---:|---:|---:|---|---|---|---:|---|",
    ]
    for w in report["watch"]:
        pw = w["per_watcher_per_second"]
        out.append(
            f"| {w['rate_offered']:g} | {w['watchers']} | {w['events']:,} | {w['delivered']:,} "
            f"| {w['delivered_per_second']:,.0f} | {pw['min']:,.0f} / {pw['median']:,.0f} / {pw['max']:,.0f} "
            f"| {_ms(w['latency_p50_ms'])} / {_ms(w['latency_p99_ms'])} / {_ms(w['latency_max_ms'])} "
            f"| {_ms(w['after_answer_p50_ms'])} / {_ms(w['after_answer_p99_ms'])} "
            f"| {w['watchers_wrong']} | {_cores(w['cpu_cores'])} |"
        )
    out += ["", "## Targets", "", "| Target | Measured | |", "|---|---:|---|"]
    out += [f"| {name} | {value} | {verification_bench._verdict(ok)} |" for name, value, ok in targets(report)]
    sizes = report["answer_bytes"]
    services = report.get("services", {})
    out += [
        "",
        "## Machine and run",
        "",
        f"- {m['cpus']} CPUs: {m['cpu_model']} at {m.get('cpu_mhz', '?')} MHz; Linux {m['kernel']}; load average "
        f"at start {', '.join(map(str, m['load_average_at_start']))}",
        f"- Python {m['python']}, grpcio {m['grpcio']}, protobuf {m['protobuf']}; PostgreSQL "
        f"{services.get('postgresql', '?')}, Redis {services.get('redis', '?')}, both local",
        f"- command: `{report['command']}`; revision {report['revision']}; {report['started']} to "
        f"{report['finished']}; {o['workers']} workers; autovacuum {report['autovacuum']} (the bench runs "
        "ANALYZE before the watch runs)",
        f"- IssueInvoice request {sizes['issue_request_1line']} / {sizes['issue_request_8line']} bytes, answer "
        f"{sizes['issue_1line']} / {sizes['issue_8line']} bytes (1 / 8 lines); floor request "
        f"{sizes['floor_request']} bytes, answer {sizes['floor_1line']} / {sizes['floor_8line']} bytes",
    ]
    if report["extra_settings"]:
        out.append(f"- extra server settings from the environment: {report['extra_settings']}")
    if report.get("profiles"):
        out += ["", "Profiles of the busiest worker (py-spy; the hottest frames, inclusive % of samples):", ""]
    for found in report.get("profiles", []):
        if "error" in found:
            out.append(f"- {found['name']}: not taken ({found['error']})")
            continue
        hottest = ", ".join(f"`{name}` {share}" for name, share in found["inclusive"][:10])
        out.append(f"- {found['name']} ({found['samples']} samples, `{found['file']}`): {hottest}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------------------


def _rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/lifecycle.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of well under a minute")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds at the maximum (default 3; --quick 1)",
    )
    parser.add_argument("--round-seconds", type=float, help="seconds per round (default 8; --quick 1.5)")
    parser.add_argument("--probe-seconds", type=float, default=3.0, help="seconds per probe (default 3)")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="open-loop IssueInvoice rate (default 1000/s)",
    )
    parser.add_argument(
        "--rate-seconds",
        type=float,
        help="seconds of the open loop (default 15; --quick 2)",
    )
    parser.add_argument(
        "--rate-repeats",
        type=int,
        help="times the open loop at --rate is driven by h2load (default 3; --quick 1)",
    )
    parser.add_argument(
        "--issues", type=int, help="concurrent issues checked for numbering (default 100000; --quick 5000)"
    )
    parser.add_argument(
        "--check-concurrency",
        type=int,
        default=512,
        help="their calls in flight (default 512)",
    )
    parser.add_argument("--watchers", type=int, default=100, help="WatchInvoices streams (default 100)")
    parser.add_argument(
        "--sweep",
        type=_rates,
        help="IssueInvoice rates/s for the h2load open loop below --rate, comma-separated, once each "
        "(default 300,500,700,850; --quick none)",
    )
    parser.add_argument(
        "--watch-rates",
        type=_rates,
        help="events/s of the watched seller, comma-separated (default 100,400; --quick 100)",
    )
    parser.add_argument(
        "--watch-seconds",
        type=float,
        help="seconds of watched changes (default 15; --quick 2)",
    )
    parser.add_argument(
        "--watch-drain",
        type=float,
        default=30.0,
        help="seconds watchers may take to catch up",
    )
    parser.add_argument(
        "--no-redis",
        action="store_true",
        help="serve without Redis (near caches only), to see what the writers' cache invalidations cost",
    )
    parser.add_argument("--output", type=Path, help="write the report here as JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy a worker under each load into DIR",
    )
    parser.add_argument(
        "--profile-seconds",
        type=float,
        help="seconds per profile (default 10; --quick 3)",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("FAPIAO_BENCH_DATABASE_URL", verification_bench.DEFAULT_ADMIN_URL),
        help="PostgreSQL URL allowed to create databases",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("FAPIAO_BENCH_REDIS_URL", verification_bench.DEFAULT_REDIS_URL),
        help="Redis for the server's cache",
    )
    o = parser.parse_args(argv)
    quick = o.quick
    o.rounds = o.rounds or (1 if quick else 3)
    o.round_seconds = o.round_seconds or (1.5 if quick else 8.0)
    o.rate_seconds = o.rate_seconds or (2.0 if quick else 15.0)
    o.issues = o.issues or (5000 if quick else 100_000)
    o.rate_repeats = o.rate_repeats or (1 if quick else 3)
    o.sweep = o.sweep if o.sweep is not None else ([] if quick else [300.0, 500.0, 700.0, 850.0])
    o.watch_rates = o.watch_rates or ([100.0] if quick else [100.0, 400.0])
    o.watch_seconds = o.watch_seconds or (2.0 if quick else 15.0)
    o.profile_seconds = o.profile_seconds or (3.0 if quick else 10.0)
    o.warmup_seconds = 0.5 if quick else 2.0
    counts = (o.workers, o.rounds, o.issues, o.watchers, o.check_concurrency, o.rate_repeats)
    if min(counts) <= 0 or o.rate <= 0 or any(r <= 0 for r in o.sweep):
        parser.error("counts, rates and durations must be positive")
    return o


def preflight(options: argparse.Namespace) -> None:
    """What bench/run.py's preflight checks, but h2load: the fapiao command, PostgreSQL and Redis answering."""
    answering = verification_bench._service_versions(options)
    problems = [
        f"{name} at {url} does not answer"
        for name, url in (("postgresql", options.admin_url), ("redis", options.redis_url))
        if name not in answering
    ]
    if not environment.fapiao_executable().exists():
        problems.append(f"no fapiao command next to {sys.executable}; run with the project's virtualenv")
    if problems:
        raise SystemExit("bench: " + "\n       ".join(problems))


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    preflight(options)
    verification_bench._stop_on_signals()
    started = time.monotonic()
    try:
        report = run(options)
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped and removed")
        return 130
    report["command"] = "python bench/lifecycle.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    report["services"] = verification_bench._service_versions(options)
    report["seconds"] = round(time.monotonic() - started, 1)
    print(markdown(report))
    log(f"done in {report['seconds']:.0f} s")
    if options.output:
        options.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
        log(f"report written to {options.output}")
    return 2 if failures(report) else 0


if __name__ == "__main__":
    sys.exit(main())
