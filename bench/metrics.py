"""What metrics cost a warm-cache VerifyInvoice: throughput with metrics on against metrics off, same run.

    python bench/metrics.py                    # ~3 minutes on 2 cores
    python bench/metrics.py --quick            # ~40-second smoke run
    python bench/metrics.py --output result.json

Two `fapiao serve` nodes with the same worker count, database and Redis differ in one setting:
FAPIAO_METRICS_LISTEN=127.0.0.1:0 (on: the RPC interceptor, the SDK, the counters, the node's /metrics) against
FAPIAO_METRICS_LISTEN="" (off: no instrument at all). While the node with metrics is measured, its /metrics is
scraped every second by default (a Prometheus at 15 s scrapes fifteen times less; --scrape-seconds), so what the
scrapes cost is counted in.

h2load drives VerifyInvoice of one seeded invoice (MATCH, so the cache stays warm) in a closed loop at saturation.
The two take turns in alternating order, round after round, so drift and neighbours hit both alike; the ratio
(on / off) is taken within each round, then the median. Every h2load success must be a MATCH the register
recorded for that load's principal, and the verifications the node's metrics counted must equal the MATCH
records of the calls it was sent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import cpu
import environment
import loadgen
import principals
import run

SERVER_SETTINGS = {
    "FAPIAO_MIGRATE_ON_START": "false",
    "FAPIAO_SHUTDOWN_GRACE_SECONDS": "3",
    "FAPIAO_LOG_LEVEL": "WARNING",
    "FAPIAO_CACHE": "on",
    **run.QUOTA_SETTINGS,
}
METRICS = {"on": "127.0.0.1:0", "off": ""}
ORDER = ("off", "on")
METRICS_BANNER = re.compile(r"metrics: (http://\S+/metrics)")


def log(message: str) -> None:
    run.log(message)


class Scraper:
    """Fetches a /metrics page every ``interval`` seconds while running, as Prometheus would."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        self.url, self.interval = url, interval
        self.scrapes, self.bytes = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="scraper")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=10) as answer:
                self.bytes += len(answer.read())
            self.scrapes += 1

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(15)


def counted_matches(url: str) -> float:
    """MATCH verifications the node's metrics counted, summed over its workers."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("fapiao_verifications_total{") and 'outcome="MATCH"' in line
    )


def bench(o: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "options": vars(o).copy()}
    report["machine"], report["revision"] = run.machine(), run.revision()
    fapiao = str(environment.fapiao_executable())
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="fapiao-bench-metrics-"))
        stack.callback(lambda: shutil.rmtree(workdir, ignore_errors=True))
        name, url = environment.create_database(o.admin_url)
        stack.callback(lambda: environment.drop_database(o.admin_url, name))
        prefix = f"fapiao-bench-{name.rsplit('_', 1)[1]}:"
        stack.callback(lambda: environment.clear_redis_namespace(o.redis_url, prefix))
        stack.callback(run._ignore_signals)
        log(f"database {name}, Redis prefix {prefix}, work folder {workdir}")
        env = {**os.environ, "FAPIAO_DATABASE_URL": url,
               "FAPIAO_REDIS_URL": o.redis_url, "FAPIAO_REDIS_KEY_PREFIX": prefix, **SERVER_SETTINGS}  # fmt: skip
        environment.run_bounded([fapiao, "migrate"], env=env, timeout=120, what="fapiao migrate")
        environment.run_bounded([fapiao, "seed", "--invoices", str(o.invoices)], env=env,
                                timeout=120 + o.invoices / 500, what="fapiao seed")  # fmt: skip
        sample = run.verify_request(run.unary_invoice(url))
        body = workdir / "verify.grpc"
        body.write_bytes(loadgen.grpc_frame(sample.SerializeToString()))

        serve = [fapiao, "serve", "--listen", "127.0.0.1:0", "--workers", str(o.workers)]
        servers = {}
        for variant in ORDER:
            servers[variant] = environment.ServerProcess(
                variant, serve, env={**env, "FAPIAO_METRICS_LISTEN": METRICS[variant]}, log_dir=workdir
            )
            stack.callback(servers[variant].stop)
            servers[variant].launch()
        for server in servers.values():
            server.wait_ready()
        deadline = time.monotonic() + 10  # the banner's lines after the first come a moment later
        while (found := next(filter(None, map(METRICS_BANNER.search, servers["on"].stdout)), None)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the node with metrics on names no metrics address in its banner")
            time.sleep(0.05)
        metrics_url = found[1]
        if any(METRICS_BANNER.search(line) for line in servers["off"].stdout):
            raise RuntimeError("the node with metrics off serves metrics")
        log(f"metrics off at {servers['off'].address}, on at {servers['on'].address} ({metrics_url})")

        keys = principals.ApiKeys()
        for variant, server in servers.items():
            run.ask(server.address, sample, keys.of(url, f"bench-metrics-{variant}-check"))
        setting, sent = (o.connections, o.streams), {variant: [0, 0] for variant in ORDER}

        def measure(variant: str, phase: str, seconds: float) -> dict[str, Any]:
            server = servers[variant]
            caller = f"bench-metrics-{variant}-{phase}"
            meter = cpu.CpuMeter(
                lambda: [server.pid, *server.worker_pids()], lambda: run.backend_pids(o.admin_url, [name])
            )
            scraping = Scraper(metrics_url, o.scrape_seconds) if variant == "on" else contextlib.nullcontext()
            with meter, scraping:
                result = loadgen.h2load(
                    environment.tool("h2load") or "/usr/bin/h2load", f"http://{server.address}{run.VERIFY_PATH}",
                    body, clients=setting[0], streams=setting[1], duration=seconds, caller=caller,
                    credential=keys.of(url, caller),
                )  # fmt: skip
            assert meter.shares is not None
            if result.failed or result.errored or result.timeouts or result.status_2xx != result.succeeded:
                raise RuntimeError(f"h2load saw failures against metrics {variant}: {result.summary()}")
            sent[variant][0] += result.succeeded
            sent[variant][1] += result.started
            shares = meter.shares
            return {
                "rps": round(result.requests_per_second, 1),
                "succeeded": result.succeeded,
                "started": result.started,
                "server_cpu_us_per_call": round(shares.server * shares.seconds / max(1, result.succeeded) * 1e6, 1),
                "other_cpu_cores": round(shares.other, 2),
                "scrapes": getattr(scraping, "scrapes", 0),
            }

        log("warming caches and credentials")
        for variant in ORDER:
            measure(variant, "warmup", o.warmup_seconds)
        rounds = []
        for index in range(o.rounds):
            order = ORDER if index % 2 == 0 else ORDER[::-1]
            measured = {variant: measure(variant, "max", o.seconds) for variant in order}
            rounds.append(measured)
            log(f"round {index + 1}/{o.rounds}: " + ", ".join(
                f"{v} {m['rps']:,.0f}/s {m['server_cpu_us_per_call']:.0f} us/call" for v, m in measured.items()
            ))  # fmt: skip
        report["rounds"] = rounds
        ratios = [r["on"]["rps"] / r["off"]["rps"] for r in rounds]
        cpu_ratios = [r["on"]["server_cpu_us_per_call"] / r["off"]["server_cpu_us_per_call"] for r in rounds]
        report["summary"] = {
            "throughput_ratio_on_to_off": round(statistics.median(ratios), 3),
            "round_ratios": [round(r, 3) for r in ratios],
            "cpu_per_call_ratio_on_to_off": round(statistics.median(cpu_ratios), 3),
            "rps_off": statistics.median(r["off"]["rps"] for r in rounds),
            "rps_on": statistics.median(r["on"]["rps"] for r in rounds),
            "cpu_us_per_call_off": statistics.median(r["off"]["server_cpu_us_per_call"] for r in rounds),
            "cpu_us_per_call_on": statistics.median(r["on"]["server_cpu_us_per_call"] for r in rounds),
        }
        time.sleep(1)  # the last group commits land
        counted = counted_matches(metrics_url)
        records = run.record_counts(url)
        checks = {}
        for variant in ORDER:
            matched = sum(n for (caller, outcome), n in records.items()
                          if caller.startswith(f"bench-metrics-{variant}-") and outcome == run.MATCH)  # fmt: skip
            other = sum(n for (caller, outcome), n in records.items()
                        if caller.startswith(f"bench-metrics-{variant}-") and outcome != run.MATCH)  # fmt: skip
            succeeded, started = sent[variant]
            # started + 1: the check call before the load (h2load's in-flight calls at its stop may be recorded).
            ok = succeeded <= matched <= started + 1 and other == 0
            checks[variant] = {"h2load_succeeded": succeeded, "h2load_started": started, "match_records": matched,
                               "other_records": other, "ok": ok}  # fmt: skip
        # Every MATCH the node with metrics recorded (h2load's and the check call) is one its metrics counted.
        checks["on"]["metrics_counted"] = counted
        checks["on"]["ok"] = checks["on"]["ok"] and counted == checks["on"]["match_records"]
        report["answers"] = checks
    return report


def markdown(report: dict[str, Any]) -> str:
    s, m = report["summary"], report["machine"]
    out = [
        f"Run {report['started']}, revision {report['revision']}, {m.get('cpus')} CPUs ({m.get('cpu_model')}), "
        f"{report['options']['workers']} worker(s) per node, {report['options']['connections']} x "
        f"{report['options']['streams']} streams",
        "",
        "| metrics | req/s (median) | server CPU us/call (median) |",
        "|---|---:|---:|",
        f"| off | {s['rps_off']:,.0f} | {s['cpu_us_per_call_off']:.0f} |",
        f"| on (scraped every {report['options']['scrape_seconds']:g} s) | {s['rps_on']:,.0f} "
        f"| {s['cpu_us_per_call_on']:.0f} |",
        "",
        f"Throughput on / off: **{s['throughput_ratio_on_to_off']:.3f}** (median of rounds {s['round_ratios']}); "
        f"CPU per call on / off: {s['cpu_per_call_ratio_on_to_off']:.3f}",
        "",
        "Answers and counts: " + json.dumps(report["answers"]),
    ]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~40-second smoke run")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 8; --quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 8; --quick 3)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers per node (default: CPUs)")
    parser.add_argument("--scrape-seconds", type=float, default=1.0, help="how often /metrics is scraped (default 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--streams", type=int, default=32, help="concurrent streams per connection")
    parser.add_argument("--invoices", type=int, help="invoices to seed (default 20000; --quick 2000)")
    parser.add_argument("--admin-url", default=os.environ.get("FAPIAO_BENCH_DATABASE_URL", run.DEFAULT_ADMIN_URL))
    parser.add_argument("--redis-url", default=os.environ.get("FAPIAO_BENCH_REDIS_URL", run.DEFAULT_REDIS_URL))
    parser.add_argument("--output", type=Path, help="also write the report (.json, or markdown for any other name)")
    o = parser.parse_args(argv)
    o.rounds = o.rounds or (2 if o.quick else 8)
    o.seconds = o.seconds or (3.0 if o.quick else 8.0)
    o.invoices = o.invoices or (2000 if o.quick else 20000)
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    run.preflight(o)
    run._stop_on_signals()
    try:
        report = bench(o)
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped and removed")
        return 130
    text = markdown(report)
    print(text)
    if o.output is not None:
        o.output.write_text(json.dumps(report, indent=2, default=str) if o.output.suffix == ".json" else text)
    return 0 if all(check["ok"] for check in report["answers"].values()) else 2


if __name__ == "__main__":
    sys.exit(main())
