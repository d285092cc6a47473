"""What SummarizeInvoices costs over the SQL it runs (docs/performance.md, "Reporting").

    python bench/reporting.py                     # 200,000 invoices, ~2 minutes on 2 cores
    python bench/reporting.py --invoices 20000    # a quick run
    python bench/reporting.py --output result.json

A scratch database on the PostgreSQL named by FAPIAO_BENCH_DATABASE_URL (an admin URL) is migrated and seeded
(``fapiao seed``), and one ``fapiao serve`` worker runs on it. For the largest region and the busiest seller of
the seeded register, a year of invoices is summarized by type and month, one call at a time:

    sql    the statement and parameters the server runs (storage.reporting.summary_statement), straight through
           psycopg: the baseline
    rpc    SummarizeInvoices over gRPC, as the region's tax officer or the seller's taxpayer

Each is run ``--repeats`` times after a warm-up, interleaved; the figure is the median wall time and the ratio
rpc / sql says what the service adds (authentication, policy, the use case, conversions, gRPC) to the database
work. The answers of the two are checked to be equal, so the RPC is known to have done the same work.
The database is dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import psycopg
from google.type import date_pb2

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench import environment  # noqa: E402
from bench.principals import api_key  # noqa: E402
from fapiao.v1 import report_service_pb2 as rs  # noqa: E402
from fapiao.v1 import report_service_pb2_grpc as rs_grpc  # noqa: E402
from fapiao_server.domain.access import EVERYTHING, Role  # noqa: E402
from fapiao_server.domain.reporting import Grouping, SummaryQuery  # noqa: E402
from fapiao_server.storage.reporting import summary_statement  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
GROUPS = [rs.INVOICE_GROUPING_TYPE, rs.INVOICE_GROUPING_MONTH]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def subjects(url: str) -> dict[str, Any]:
    """The largest region, the busiest seller, and the year of issue dates ending at the newest invoice."""
    with psycopg.connect(url) as conn:
        region, region_count = conn.execute(
            "SELECT region_code, count(*) FROM invoices GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        seller, seller_count = conn.execute(
            "SELECT seller_tax_id, count(*) FROM invoices GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        (newest,) = conn.execute("SELECT max(issue_date) FROM invoices").fetchone()  # type: ignore[misc]
    start = date(newest.year - 1, newest.month, newest.day) if (newest.month, newest.day) != (2, 29) else newest
    start = date.fromordinal(start.toordinal() + 1)  # 366 days at most, both ends included
    return {"region": (region, region_count), "seller": (seller, seller_count), "start": start, "end": newest}


def timed(run: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def measure_one(
    conn: psycopg.Connection[Any],
    address: str,
    key: str,
    kind: str,
    subject: str,
    start: date,
    end: date,
    repeats: int,
) -> dict[str, Any]:
    """Median wall times of the statement alone and of the RPC, for one region or seller."""
    where = SummaryQuery(start, end, group_by=(Grouping.TYPE, Grouping.MONTH),
                         **({"region": subject} if kind == "region" else {"seller_tax_id": subject}))  # fmt: skip
    statement, params = summary_statement(where, EVERYTHING)
    request = rs.SummarizeInvoicesRequest(
        start_date=date_pb2.Date(year=start.year, month=start.month, day=start.day),
        end_date=date_pb2.Date(year=end.year, month=end.month, day=end.day),
        group_by=GROUPS,
        **({"region_code": subject} if kind == "region" else {"seller_tax_id": subject}),
    )
    metadata = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(address) as channel:
        stub = rs_grpc.ReportServiceStub(channel)

        def sql() -> list[Any]:
            return conn.execute(statement, params).fetchall()

        def rpc() -> rs.SummarizeInvoicesResponse:
            return stub.SummarizeInvoices(request, metadata=metadata, timeout=60)

        for _ in range(3):  # warm-up: plans, caches, the credential
            sql(), rpc()
        sql_times, rpc_times = [], []
        for _ in range(repeats):
            seconds, rows = timed(sql)
            sql_times.append(seconds)
            seconds, answer = timed(rpc)
            rpc_times.append(seconds)
    if sum(row[4] for row in rows) != answer.total.invoice_count or len(rows) != len(answer.groups):
        raise RuntimeError(f"{kind}: the RPC and the SQL disagree: {answer.total} vs {len(rows)} groups")
    sql_ms, rpc_ms = statistics.median(sql_times) * 1000, statistics.median(rpc_times) * 1000
    return {
        "subject": subject, "invoices_summarized": answer.total.invoice_count, "groups": len(answer.groups),
        "sql_ms": round(sql_ms, 2), "rpc_ms": round(rpc_ms, 2), "ratio": round(rpc_ms / sql_ms, 2),
    }  # fmt: skip


def measure(url: str, address: str, keys: dict[str, str], found: dict[str, Any], repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for kind in ("region", "seller"):
            subject, in_subject = found[kind]
            result = measure_one(conn, address, keys[kind], kind, subject, found["start"], found["end"], repeats)
            results[kind] = {"invoices_in_subject": in_subject, **result}
            log(f"{kind} {subject}: {result['invoices_summarized']} invoices in {result['groups']} groups; sql "
                f"{result['sql_ms']:.1f} ms, rpc {result['rpc_ms']:.1f} ms, ratio {result['ratio']:.2f}")  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("FAPIAO_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", type=Path)
    options = parser.parse_args()
    fapiao = str(environment.fapiao_executable())
    report: dict[str, Any] = {"invoices": options.invoices, "repeats": options.repeats, "cpus": os.cpu_count()}
    with contextlib.ExitStack() as stack:
        name, url = environment.create_database(options.admin_url)
        stack.callback(lambda: environment.drop_database(options.admin_url, name))
        log(f"database {name}")
        env = {**os.environ, "FAPIAO_DATABASE_URL": url, "FAPIAO_LOG_LEVEL": "WARNING"}
        environment.run_bounded([fapiao, "migrate"], env=env, timeout=120, what="fapiao migrate")
        log(f"seeding {options.invoices} invoices")
        environment.run_bounded([fapiao, "seed", "--invoices", str(options.invoices)], env=env,
                                timeout=120 + options.invoices / 500, what="fapiao seed")  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE invoices")
        found = subjects(url)
        keys = {
            "region": api_key(url, "bench-report-officer", Role.TAX_OFFICER, regions=[found["region"][0]]),
            "seller": api_key(url, "bench-report-seller", Role.TAXPAYER, tax_ids=[found["seller"][0]]),
        }
        logs = Path(tempfile.mkdtemp(prefix="fapiao-bench-reporting-"))
        server = environment.ServerProcess(
            "reporting", [fapiao, "serve", "--listen", "127.0.0.1:0", "--workers", "1"],
            env={**env, "FAPIAO_MIGRATE_ON_START": "false", "FAPIAO_RATE_LIMIT_PER_SECOND": "1e9"}, log_dir=logs,
        ).launch()  # fmt: skip
        stack.callback(server.stop)
        server.wait_ready()
        report["range"] = [found["start"].isoformat(), found["end"].isoformat()]
        report["results"] = measure(url, server.address, keys, found, options.repeats)
    if options.output:
        options.output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
