"""What observability costs a warm-cache VerifyInvoice: throughput with it on against all of it off, same run.

    python bench/observability.py              # ~5 minutes on 2 cores
    python bench/observability.py --quick      # ~1-minute smoke run
    python bench/observability.py --output result.json

Three `fapiao serve` nodes with the same worker count, database and Redis differ only in their observability
settings:
- off: no metrics (FAPIAO_METRICS_LISTEN=""), no tracing (FAPIAO_OTEL_EXPORTER=none), console logs at WARNING;
- on: metrics (the RPC interceptor, the counters, the node's /metrics, scraped every second by default: a Prometheus
  at 15 s scrapes fifteen times less, --scrape-seconds), JSON logs at INFO, and tracing with 1% of calls sampled
  (parentbased_traceidratio), exported over OTLP/gRPC;
- traced: the same with every call traced (parentbased_always_on).
The spans go to bench/otlp_sink.py, a receiver in a process of its own (a collector elsewhere), whose CPU is not
counted as the server's.

h2load drives VerifyInvoice of one seeded invoice (MATCH, so the cache stays warm) in a closed loop at saturation.
The nodes take turns in rotating order, round after round, so drift and neighbours hit all alike; each ratio (on
/ off, traced / off) is taken within a round, then the median. Every h2load success must be a MATCH the register
recorded for that load's principal; the verifications a node's metrics counted must equal its MATCH records; and
the receiver must have got a server span for about every call traced (1% or all).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import cpu
import environment
import loadgen
import principals
import pyspy
import run

SERVER_SETTINGS = {
    "FAPIAO_MIGRATE_ON_START": "false",
    "FAPIAO_SHUTDOWN_GRACE_SECONDS": "3",
    "FAPIAO_CACHE": "on",
    **run.QUOTA_SETTINGS,
}
OFF = {"FAPIAO_METRICS_LISTEN": "", "FAPIAO_OTEL_EXPORTER": "none", "FAPIAO_LOG_FORMAT": "console",
       "FAPIAO_LOG_LEVEL": "WARNING"}  # fmt: skip
ON = {"FAPIAO_METRICS_LISTEN": "127.0.0.1:0", "FAPIAO_OTEL_EXPORTER": "otlp", "FAPIAO_LOG_FORMAT": "json",
      "FAPIAO_LOG_LEVEL": "INFO", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}  # fmt: skip
VARIANTS = {
    "off": OFF,
    "on": {**ON, "OTEL_SERVICE_NAME": "fapiao-on", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
    "traced": {**ON, "OTEL_SERVICE_NAME": "fapiao-traced", "OTEL_TRACES_SAMPLER": "parentbased_always_on"},
}
# Each part alone, for --variants (what each one costs): metrics, JSON logs, tracing at 1%.
PARTS = {
    "metrics": {**OFF, "FAPIAO_METRICS_LISTEN": "127.0.0.1:0"},
    "logs": {**OFF, "FAPIAO_LOG_FORMAT": "json", "FAPIAO_LOG_LEVEL": "INFO"},
    "sampled": {**OFF, "FAPIAO_OTEL_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "fapiao-sampled",
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
}  # fmt: skip
SAMPLED = {"on": 0.01, "traced": 1.0, "sampled": 0.01}
VERIFY_SPAN = "/fapiao.v1.VerificationService/VerifyInvoice"
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
    order = o.variants
    chosen = {variant: {**VARIANTS, **PARTS}[variant] for variant in order}
    report["variants"] = chosen
    fapiao = str(environment.fapiao_executable())
    with contextlib.ExitStack() as stack:
        owned = environment.scratch(stack, o.admin_url, o.redis_url, "observability")
        workdir, name, url, prefix = owned.workdir, owned.database, owned.url, owned.redis_prefix
        log(f"database {name}, Redis prefix {prefix}, work folder {workdir}")
        env = {**os.environ, "FAPIAO_DATABASE_URL": url,
               "FAPIAO_REDIS_URL": o.redis_url, "FAPIAO_REDIS_KEY_PREFIX": prefix, **SERVER_SETTINGS}  # fmt: skip
        environment.run_bounded([fapiao, "migrate"], env=env, timeout=120, what="fapiao migrate")
        environment.run_bounded([fapiao, "seed", "--invoices", str(o.invoices)], env=env,
                                timeout=120 + o.invoices / 500, what="fapiao seed")  # fmt: skip
        sample = run.verify_request(run.unary_invoice(url))
        body = workdir / "verify.grpc"
        body.write_bytes(loadgen.grpc_frame(sample.SerializeToString()))

        counts_file = workdir / "span-counts.json"
        sink = environment.ServerProcess(
            "otlp-sink", [sys.executable, str(environment.BENCH_DIR / "otlp_sink.py"), "--counts", str(counts_file)],
            env=dict(os.environ), log_dir=workdir,
        )  # fmt: skip
        stack.callback(sink.stop)
        sink.launch().wait_ready()
        # Spans in batches of 512 every second at most (the SDK's default waits 5 s), so the queue of 2,048
        # spans is not what limits a node traced at full rate.
        otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink.address}", "OTEL_BSP_SCHEDULE_DELAY": "1000"}
        serve = [fapiao, "serve", "--listen", "127.0.0.1:0", "--workers", str(o.workers)]
        servers = {}
        for variant, settings in chosen.items():
            servers[variant] = environment.ServerProcess(
                variant, serve, env={**env, **otlp, **settings}, log_dir=workdir
            )
            stack.callback(servers[variant].stop)
            servers[variant].launch()
        for server in servers.values():
            server.wait_ready()
        metrics_urls = {}
        for variant, server in servers.items():
            deadline = time.monotonic() + 10  # the banner's lines after the first come a moment later
            while (found := next(filter(None, map(METRICS_BANNER.search, server.stdout)), None)) is None:
                if chosen[variant]["FAPIAO_METRICS_LISTEN"] == "" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if (found is not None) != (chosen[variant]["FAPIAO_METRICS_LISTEN"] != ""):
                raise RuntimeError(f"the node {variant} has metrics {'on' if found else 'off'} against its settings")
            if found is not None:
                metrics_urls[variant] = found[1]
        log(", ".join(f"{v} at {s.address}" for v, s in servers.items()) + f"; spans to {sink.address}")

        keys = principals.ApiKeys()
        for variant, server in servers.items():
            run.ask(server.address, sample, keys.of(url, f"bench-obs-{variant}-check"))
        setting, sent = (o.connections, o.streams), {variant: [0, 0] for variant in order}

        def measure(variant: str, phase: str, seconds: float) -> dict[str, Any]:
            server = servers[variant]
            caller = f"bench-obs-{variant}-{phase}"
            meter = cpu.CpuMeter(
                lambda: [server.pid, *server.worker_pids()], lambda: run.backend_pids(o.admin_url, [name])
            )
            scraping = (
                Scraper(metrics_urls[variant], o.scrape_seconds)
                if variant in metrics_urls
                else contextlib.nullcontext()
            )
            sink_before = cpu.process_seconds(sink.pid)
            with meter, scraping:
                result = loadgen.h2load(
                    environment.tool("h2load") or "/usr/bin/h2load", f"http://{server.address}{run.VERIFY_PATH}",
                    body, clients=setting[0], streams=setting[1], duration=seconds, caller=caller,
                    credential=keys.of(url, caller),
                )  # fmt: skip
            assert meter.shares is not None
            if result.failed or result.errored or result.timeouts or result.status_2xx != result.succeeded:
                raise RuntimeError(f"h2load saw failures against {variant}: {result.summary()}")
            sent[variant][0] += result.succeeded
            sent[variant][1] += result.started
            shares = meter.shares
            return {
                "rps": round(result.requests_per_second, 1),
                "succeeded": result.succeeded,
                "started": result.started,
                "server_cpu_us_per_call": round(shares.server * shares.seconds / max(1, result.succeeded) * 1e6, 1),
                "sink_cpu_cores": round((cpu.process_seconds(sink.pid) - sink_before) / shares.seconds, 3),
                "other_cpu_cores": round(shares.other, 2),
                "scrapes": getattr(scraping, "scrapes", 0),
            }

        log("warming caches and credentials")
        for variant in order:
            measure(variant, "warmup", o.warmup_seconds)
        rounds = []
        for index in range(o.rounds):
            turn = order[index % len(order) :] + order[: index % len(order)]
            measured = {variant: measure(variant, "max", o.seconds) for variant in turn}
            rounds.append(measured)
            log(f"round {index + 1}/{o.rounds}: " + ", ".join(
                f"{v} {m['rps']:,.0f}/s {m['server_cpu_us_per_call']:.0f} us/call" for v, m in measured.items()
            ))  # fmt: skip
        report["rounds"] = rounds
        if o.profile is not None:
            o.profile.mkdir(parents=True, exist_ok=True)
            report["profiles"] = {}
            for variant, server in servers.items():
                worker = server.worker_pids()[0]
                caller = f"bench-obs-{variant}-profile"
                report["profiles"][variant], result = pyspy.under_h2load(
                    worker, f"http://{server.address}{run.VERIFY_PATH}", body, keys.of(url, caller), setting,
                    o.seconds * 2, o.profile, f"observability-{variant}",
                )  # fmt: skip
                sent[variant][0] += result.succeeded
                sent[variant][1] += result.started
        summary: dict[str, Any] = {}
        for variant in order:
            summary[f"rps_{variant}"] = statistics.median(r[variant]["rps"] for r in rounds)
            cpu_per_call = [r[variant]["server_cpu_us_per_call"] for r in rounds]
            summary[f"cpu_us_per_call_{variant}"] = statistics.median(cpu_per_call)
            summary[f"sink_cpu_cores_{variant}"] = statistics.median(r[variant]["sink_cpu_cores"] for r in rounds)
            if variant != "off":
                ratios = [r[variant]["rps"] / r["off"]["rps"] for r in rounds]
                cpu_ratios = [r[variant]["server_cpu_us_per_call"] / r["off"]["server_cpu_us_per_call"] for r in rounds]
                summary[f"throughput_ratio_{variant}_to_off"] = round(statistics.median(ratios), 3)
                summary[f"round_ratios_{variant}"] = [round(r, 3) for r in ratios]
                summary[f"cpu_per_call_ratio_{variant}_to_off"] = round(statistics.median(cpu_ratios), 3)
        report["summary"] = summary
        time.sleep(2)  # the last group commits land and the last spans are exported
        counted = {variant: counted_matches(found) for variant, found in metrics_urls.items()}
        sink.stop()
        spans = json.loads(counts_file.read_text())["spans"]
        records = run.record_counts(url)
        checks = {}
        for variant in order:
            matched = sum(n for (caller, outcome), n in records.items()
                          if caller.startswith(f"bench-obs-{variant}-") and outcome == run.MATCH)  # fmt: skip
            other = sum(n for (caller, outcome), n in records.items()
                        if caller.startswith(f"bench-obs-{variant}-") and outcome != run.MATCH)  # fmt: skip
            succeeded, started = sent[variant]
            # started + 1: the check call before the load (h2load's in-flight calls at its stop may be recorded).
            ok = succeeded <= matched <= started + 1 and other == 0
            check: dict[str, Any] = {"h2load_succeeded": succeeded, "h2load_started": started,
                                     "match_records": matched, "other_records": other}  # fmt: skip
            if variant in counted:
                # Every MATCH the node recorded (h2load's and the check call) is one its metrics counted.
                check["metrics_counted"] = counted[variant]
                ok = ok and counted[variant] == matched
            if variant in SAMPLED:
                traced = spans.get(f"{chosen[variant]['OTEL_SERVICE_NAME']} {VERIFY_SPAN}", 0)
                expected = SAMPLED[variant] * matched
                check["server_spans_received"], check["server_spans_expected"] = traced, round(expected)
                # A ratio sampler's share wanders (binomial); at full rate the SDK may drop what its queue cannot
                # hold, which must not be more than a few per cent to count as tracing every call.
                ok = ok and abs(traced - expected) <= max(0.05 * expected, 4 * (expected + 1) ** 0.5)
            checks[variant] = check | {"ok": ok}
        report["answers"] = checks
        report["spans_received"] = spans
    return report


def markdown(report: dict[str, Any]) -> str:
    s, m, o = report["summary"], report["machine"], report["options"]
    out = [
        f"Run {report['started']}, revision {report['revision']}, {m.get('cpus')} CPUs ({m.get('cpu_model')}), "
        f"{o['workers']} worker(s) per node, {o['connections']} x {o['streams']} streams, "
        f"/metrics scraped every {o['scrape_seconds']:g} s",
        "",
        "| node | req/s (median) | vs off (median of rounds) | server CPU us/call | receiver CPU (cores) |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in report["options"]["variants"]:
        ratio = "1" if variant == "off" else (
            f"**{s[f'throughput_ratio_{variant}_to_off']:.3f}** {s[f'round_ratios_{variant}']}"
        )  # fmt: skip
        out.append(f"| {variant} | {s[f'rps_{variant}']:,.0f} | {ratio} | {s[f'cpu_us_per_call_{variant}']:.0f} "
                   f"| {s[f'sink_cpu_cores_{variant}']:.2f} |")  # fmt: skip
    out += ["", "Answers, counts and spans: " + json.dumps(report["answers"])]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run")
    parser.add_argument("--rounds", type=int, help="rotating rounds (default 6; --quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 8; --quick 3)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers per node (default: CPUs)")
    parser.add_argument("--scrape-seconds", type=float, default=1.0, help="how often /metrics is scraped (default 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--streams", type=int, default=32, help="concurrent streams per connection")
    parser.add_argument("--invoices", type=int, help="invoices to seed (default 20000; --quick 2000)")
    parser.add_argument("--admin-url", default=os.environ.get("FAPIAO_BENCH_DATABASE_URL", run.DEFAULT_ADMIN_URL))
    parser.add_argument("--redis-url", default=os.environ.get("FAPIAO_BENCH_REDIS_URL", run.DEFAULT_REDIS_URL))
    parser.add_argument(
        "--variants",
        type=lambda text: tuple(text.split(",")),
        default=("off", "on", "traced"),
        help="nodes to compare, the first being the baseline: off, on, traced, and each part alone: metrics, logs, "
        "sampled (tracing at 1%%) (default off,on,traced)",
    )
    parser.add_argument("--profile", type=Path, metavar="DIR", help="also py-spy a worker of each node under load")
    parser.add_argument("--output", type=Path, help="also write the report (.json, or markdown for any other name)")
    o = parser.parse_args(argv)
    if o.variants[0] != "off" or not set(o.variants) <= {*VARIANTS, *PARTS}:
        parser.error(f"--variants: names from {', '.join([*VARIANTS, *PARTS])}, the first being off")
    o.rounds = o.rounds or (2 if o.quick else 6)
    o.seconds = o.seconds or (3.0 if o.quick else 8.0)
    o.invoices = o.invoices or (2000 if o.quick else 20000)
    return o


def main(argv: list[str] | None = None) -> int:
    return run.run_and_report(parse_args(argv), bench, markdown, answers_ok)


def answers_ok(report: dict[str, Any]) -> bool:
    return all(check["ok"] for check in report["answers"].values())


if __name__ == "__main__":
    sys.exit(main())
