"""Audit log benchmark: sustained appends per second through AuditLog's batching, verification speed, and what
recording costs IssueInvoice.

    python bench/audit.py            # about a minute on 2 cores
    python bench/audit.py --quick    # about 20 seconds

1. Appends: one or two writer processes (each an AuditLog on a pool of its own, as fleet workers are) record
   events as fast as one coroutine can queue them, in bursts of 100 with a yield between (RPCs arrive over
   time); measured from the first record to the last commit. Then the whole chain is verified.
2. IssueInvoice: one worker process serves the same Application on two ports, with and without the audit
   interceptor (same pool, same caches, same database); a grpc.aio client in this process alternates rounds of
   a closed loop at a fixed concurrency between the two ports.

Needs a PostgreSQL that may create databases (FAPIAO_BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/postgres); creates fapiao_bench_<id> and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import cpu
import environment
from lifecycle import issue_templates, taxpayer, with_request_id

ISSUE_PATH = "/fapiao.v1.InvoiceService/IssueInvoice"


def _append_worker(url: str, count: int, name: str, start: Any, results: Connection) -> None:
    from psycopg_pool import AsyncConnectionPool

    from fapiao_server.domain.audit import AuditEvent, AuditOutcome
    from fapiao_server.domain.calendar import utc_now
    from fapiao_server.services.audit import AuditLog
    from fapiao_server.storage.audit import PostgresAuditLog

    async def main() -> None:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            log = AuditLog(PostgresAuditLog(pool))
            start.wait()
            began, queueing = time.perf_counter(), 0.0
            for n in range(count):
                event = AuditEvent(
                    time=utc_now(), actor=name, actor_role="TAXPAYER", action=ISSUE_PATH, outcome=AuditOutcome.OK,
                    subject=f"invoices/{n}", details={"request_id": "4f1c2a9e-7d1b-4c57-9a51-0e8f3b2d6c10"},
                )  # fmt: skip
                tick = time.perf_counter()
                log.record(event)
                queueing += time.perf_counter() - tick
                if n % 100 == 99:
                    await asyncio.sleep(0)
            await log.close(timeout=300)
            results.send({"seconds": time.perf_counter() - began, "record_us": queueing / count * 1e6})

    asyncio.run(main())


def appends(url: str, writers: int, count: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    pipes = [context.Pipe(duplex=False) for _ in range(writers)]
    processes = [
        context.Process(target=_append_worker, args=(url, count, f"writer-{i}", start, sender))
        for i, (_, sender) in enumerate(pipes)
    ]
    for process in processes:
        process.start()
    time.sleep(3)  # imports and pools ready before the start
    start.set()
    results = [receiver.recv() for receiver, _ in pipes]
    for process in processes:
        process.join(60)
    seconds = max(r["seconds"] for r in results)
    return {
        "writers": writers,
        "events": writers * count,
        "seconds": round(seconds, 2),
        "events_per_second": round(writers * count / seconds),
        "record_call_us": round(statistics.mean(r["record_us"] for r in results), 2),
    }


async def verification(url: str) -> dict[str, Any]:
    from psycopg_pool import AsyncConnectionPool

    from fapiao_server.storage.audit import PostgresAuditLog

    async with AsyncConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        began = time.perf_counter()
        check = await PostgresAuditLog(pool).verify()
        seconds = time.perf_counter() - began
    return {"intact": check.intact, "rows": check.checked, "rows_per_second": round(check.checked / seconds)}


def _serve(url: str, ports: Connection) -> None:
    """One worker: the Application (with the audit interceptor) plus a second server without it."""
    from security_server import access_gate, servicers

    from fapiao_server.app import Application
    from fapiao_server.config import Settings
    from fapiao_server.transport.server import Listener, create_server

    async def main() -> None:
        # One principal issues thousands a second: the rate limit must not refuse it, yet its cost is in both.
        app = Application(Settings(listen="127.0.0.1:0", cache="off", rate_limit_per_second=1e9), url)
        # The same server but for the audit trail: the same access gate, servicers and options.
        bare, (bare_port,) = create_server(
            [Listener("127.0.0.1:0")], servicers(app), app.health, gate=access_gate(app, "limited"),
            max_message_bytes=app.settings.max_message_bytes,
        )  # fmt: skip
        audited_port = await app.start()
        await bare.start()
        ports.send({"audited": audited_port, "bare": bare_port})
        await asyncio.get_running_loop().run_in_executor(None, ports.recv)
        await bare.stop(1)
        await app.stop()

    asyncio.run(main())


def _backends(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]


async def _round(
    address: str, requests: list[bytes], token: str, concurrency: int, seconds: float, meter: cpu.CpuMeter
) -> dict[str, float]:
    """A closed loop of IssueInvoice calls; throughput, latency, and CPU per call of the worker and of PostgreSQL
    (a neighbour's load moves throughput a lot on a shared box, CPU per call much less)."""
    import grpc

    latencies: list[float] = []
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(ISSUE_PATH)
        deadline = time.perf_counter() + seconds

        async def caller(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                tick = time.perf_counter()
                await call(with_request_id(requests[n % len(requests)]), timeout=10, metadata=metadata)
                latencies.append(time.perf_counter() - tick)
                n += concurrency

        began = time.perf_counter()
        with meter:
            await asyncio.gather(*(caller(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    shares = meter.shares
    assert shares is not None
    return {
        "per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "worker_cpu_us_per_call": shares.server * shares.seconds / len(latencies) * 1e6,
        "postgres_cpu_us_per_call": shares.postgres * shares.seconds / len(latencies) * 1e6,
        "client_and_neighbours_cores": shares.other,
    }


def issue_cost(url: str, rounds: int, seconds: float, concurrency: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe()
    server = context.Process(target=_serve, args=(url, sender))
    server.start()
    try:
        ports = receiver.recv()
        requests = issue_templates(2000, 1, seed=20261128)
        _, token = taxpayer(url, "bench-audit-issuer", requests)
        assert server.pid is not None
        pid = server.pid
        runs: dict[str, list[dict[str, float]]] = {"bare": [], "audited": []}

        async def drive() -> None:
            def meter() -> cpu.CpuMeter:
                return cpu.CpuMeter(lambda: [pid], lambda: _backends(url))

            await _round(f"127.0.0.1:{ports['audited']}", requests, token, concurrency, 2, meter())  # warm both paths
            await _round(f"127.0.0.1:{ports['bare']}", requests, token, concurrency, 2, meter())
            for n in range(rounds):
                # Each goes first every other round, so a drift of the shared box favours neither.
                for name in ("bare", "audited") if n % 2 == 0 else ("audited", "bare"):
                    address = f"127.0.0.1:{ports[name]}"
                    runs[name].append(await _round(address, requests, token, concurrency, seconds, meter()))

        asyncio.run(drive())
    finally:
        receiver.send("stop")
        server.join(30)

    def summary(name: str) -> dict[str, Any]:
        return {key: round(statistics.median(r[key] for r in runs[name]), 2) for key in runs[name][0]} | {
            "rounds_per_second": [round(r["per_second"]) for r in runs[name]]
        }

    bare, audited = summary("bare"), summary("audited")
    return {
        "concurrency": concurrency,
        "bare": bare,
        "audited": audited,
        "throughput_change_percent": round((audited["per_second"] / bare["per_second"] - 1) * 100, 1),
        "cpu_per_call_change_percent": round(
            (audited["worker_cpu_us_per_call"] + audited["postgres_cpu_us_per_call"])
            / (bare["worker_cpu_us_per_call"] + bare["postgres_cpu_us_per_call"])
            * 100
            - 100,
            1,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and shorter rounds")
    options = parser.parse_args()
    admin = os.environ.get("FAPIAO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name, url = environment.create_database(admin)
    try:
        from fapiao_server.domain.calendar import business_date, utc_now
        from fapiao_server.storage.migrations import migrate

        migrate(url, today=business_date(utc_now()))
        count = 20_000 if options.quick else 100_000
        report = {
            "appends_one_writer": appends(url, 1, count),
            "appends_two_writers": appends(url, 2, count),
        }
        report["verify"] = asyncio.run(verification(url))
        report["issue_invoice"] = issue_cost(url, 2 if options.quick else 6, 3 if options.quick else 5, 16)
        print(json.dumps(report, indent=2))
    finally:
        environment.drop_database(admin, name)


if __name__ == "__main__":
    main()
