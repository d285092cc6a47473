"""Where IssueInvoice's time goes at 30% of its own maximum, stage by stage, read from its traces.

    python bench/issue_stages.py                 # ~6 minutes on 2 cores
    python bench/issue_stages.py --quick         # ~2-minute smoke run
    python bench/issue_stages.py --output result.json --keep-spans spans.jsonl
    python bench/issue_stages.py --compare nocache:FAPIAO_CACHE=off --compare-traced   # a twin, one setting changed

1. The closed-loop maximum of `fapiao serve --workers 2` (Redis on, untraced), driven by h2load: one process per
   request body (20 different 1-line invoices of many sellers), 8 streams each; --max-rounds rounds, the median.
2. An open loop at --fraction (0.3) of that maximum, h2load again (one connection per body, started at random
   phases, so requests do not leave in bursts), in rotating rounds on three servers: that node untraced; a twin
   node tracing a --sample share of its calls (parentbased_traceidratio, exported over OTLP to bench/otlp_sink.py,
   a receiver in a process of its own); and the no-op floor (bench/noop_server.py) answering each call with an
   issued invoice's answer, as large as IssueInvoice's.
3. The target: the untraced node's p99 at most 10x the floor's p99 at the same offered rate (medians of rounds).
4. The traced node's IssueInvoice spans, stage by stage (below), over all traced calls and over the slowest 1%.

A call's stages, from its server span and the group commit's wait and batch spans:
- before the group commit: from the server span's start to joining the group commit (the interceptors, the
  access gate and rate limit, the request's checks and conversion);
- waiting for the batch in flight: the part of the queued time (``fapiao.batch.queued_ms``) that is not
  lingering: the batch before it was still at the database;
- lingering: the group commit's deliberate wait for more calls (``fapiao.batch.linger_ms``);
- the group commit itself (its batch span: statements, signing, sealing and the Python between them);
- handed back: from the batch's end to the call having its result (an event-loop turn);
- after the group commit: the cache invalidation and the answer, to the server span's end.
What the client measured beyond the server span (gRPC before the handler runs, the network, the client) is the
difference between h2load's figures and the server spans'.

Each node has a database and a Redis namespace of its own (copies made before any starts): nodes sharing them
would each handle all the others' change announcements, and the node measured would share the cores with that.

Every answer counts: the register must have gained an invoice for every call h2load counted as done, and at most
one for every call it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cpu
import environment
import lifecycle
import loadgen
import pyspy
import run

ISSUE_PATH = "/fapiao.v1.InvoiceService/IssueInvoice"
FLOOR_PATH = "/fapiao.v1.VerificationService/VerifyInvoice"
TARGET_RATIO = 10.0
SERVER_KIND = 2  # OTLP SPAN_KIND_SERVER
STAGES = (
    "before the group commit",
    "waiting for the batch in flight",
    "lingering",
    "the group commit",
    "handed back",
    "after the group commit",
)


def log(message: str) -> None:
    run.log(message)


# --------------------------------------------------------------------------------------------------------------
# The spans


def _ms(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / 1e6


def _covered_ms(intervals: list[tuple[int, int]]) -> float:
    """Milliseconds covered by the union of ``intervals`` (ns)."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total / 1e6


def call_stages(spans: list[dict[str, Any]], since_ns: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each traced IssueInvoice call that started at ``since_ns`` or later: its stages (ms); and what the group
    commits' batches were made of."""
    by_id = {s["id"]: s for s in spans}
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        children[s["parent"]].append(s)
    calls, batches, missing = [], {}, 0
    for server in spans:
        if server["name"] != ISSUE_PATH or server["kind"] != SERVER_KIND or server["start"] < since_ns:
            continue
        if server["attributes"].get("rpc.grpc.status_code") != 0:
            continue
        wait = next((c for c in children[server["id"]] if c["name"] == "fapiao.issue.wait"), None)
        batch = None
        if wait is not None:
            batch = next((c for c in children[wait["id"]] if c["name"] == "fapiao.issue.batch"), None)
            if batch is None and wait["links"]:
                batch = by_id.get(wait["links"][0])
        if wait is None or batch is None:
            missing += 1  # its batch span was still in an unexported batch at the end, or dropped
            continue
        queued = float(wait["attributes"].get("fapiao.batch.queued_ms", 0.0))
        lingered = min(queued, float(wait["attributes"].get("fapiao.batch.linger_ms", 0.0)))
        stage = {
            "total": _ms(server["start"], server["end"]),
            "before the group commit": _ms(server["start"], wait["start"]),
            "waiting for the batch in flight": queued - lingered,
            "lingering": lingered,
            "the group commit": _ms(batch["start"], batch["end"]),
            "handed back": _ms(batch["end"], wait["end"]),
            "after the group commit": _ms(wait["end"], server["end"]),
            "batch_size": batch["attributes"].get("fapiao.batch.size", 0),
        }
        calls.append(stage)
        batches[batch["id"]] = batch
    # Inside the batches: the time under each kind of child span, and the rest (Python work, and in pipeline mode
    # the waits for PostgreSQL's answers, which fall between the statements' spans).
    inside: dict[str, list[float]] = defaultdict(list)
    for batch in batches.values():
        kids = children[batch["id"]]
        by_name: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for kid in kids:
            by_name[kid["name"]].append((kid["start"], kid["end"]))
        for name, intervals in by_name.items():
            inside[name].append(_covered_ms(intervals))
        inside["(not in a child span)"].append(
            _ms(batch["start"], batch["end"]) - _covered_ms([(k["start"], k["end"]) for k in kids])
        )
        inside["(batch)"].append(_ms(batch["start"], batch["end"]))
    made_of = {
        "batches": len(batches),
        "calls_without_their_batch": missing,
        "mean_ms_per_batch": {name: round(statistics.fmean(v), 3) for name, v in inside.items()},
        "batch_sizes": _spread([float(b["attributes"].get("fapiao.batch.size", 0)) for b in batches.values()]),
    }
    return calls, made_of


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"mean": round(statistics.fmean(ordered), 3), "p50": round(at(0.5), 3), "p99": round(at(0.99), 3)}


def summarise(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage: mean, p50 and p99 over all traced calls, and the mean over the slowest 1% of them."""
    if not calls:
        return {"calls": 0}
    slowest = sorted(calls, key=lambda c: c["total"])[-max(1, len(calls) // 100) :]
    tail_total = statistics.fmean(c["total"] for c in slowest)
    out: dict[str, Any] = {"calls": len(calls), "slowest": len(slowest), "stages": {}}
    for stage in ("total", *STAGES):
        values = [c[stage] for c in calls]
        tail = statistics.fmean(c[stage] for c in slowest)
        out["stages"][stage] = _spread(values) | {
            "slowest_1pct_mean": round(tail, 3),
            "slowest_1pct_share": round(tail / tail_total, 3) if tail_total else 0.0,
        }
    out["batch_size_of_slowest"] = _spread([float(c["batch_size"]) for c in slowest])
    return out


class BackendWaits:
    """What the node's PostgreSQL backends are doing, sampled from pg_stat_activity every ``interval`` s while
    running (every 50 ms, so that the sampling takes little of the cores it measures): the wait event
    (``Lock:transactionid`` is a batch waiting for another's number counters, ``Client:ClientRead`` a backend
    waiting for its worker's Python, ``IO:WALSync`` the commit's flush), else the state (``active``: executing)."""

    SQL = """
        SELECT coalesce(wait_event_type || ':' || wait_event, state) FROM pg_stat_activity
        WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'
    """

    def __init__(self, admin_url: str, database: str, interval: float = 0.05) -> None:
        import threading

        self._admin_url, self._database, self._interval = admin_url, database, interval
        self.samples = 0
        self.seen: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="backend-waits")

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            while not self._stop.wait(self._interval):
                self.samples += 1
                for (what,) in conn.execute(self.SQL, (self._database,)).fetchall():
                    self.seen[str(what)] += 1

    def __enter__(self) -> BackendWaits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def summary(self) -> dict[str, float]:
        """Per state, the mean number of backends in it (busy backends, averaged over the samples)."""
        return {what: round(n / max(1, self.samples), 3) for what, n in self.seen.most_common()}


# --------------------------------------------------------------------------------------------------------------
# The run


def _issue_sample(address: str, key: str, template: bytes) -> bytes:
    """One invoice issued through the node; the answer's bytes (what the floor will answer)."""
    import grpc

    from fapiao.v1 import invoice_service_pb2 as pb
    from fapiao.v1 import verification_service_pb2 as vpb

    with grpc.insecure_channel(address) as channel:
        issue = channel.unary_unary(ISSUE_PATH, request_serializer=None, response_deserializer=None)
        answer = issue(template, metadata=(("authorization", f"Bearer {key}"),), timeout=30)
    invoice = pb.IssueInvoiceResponse.FromString(answer).invoice
    return vpb.VerifyInvoiceResponse(outcome=run.MATCH, invoice=invoice).SerializeToString()


def bench(o: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "options": vars(o).copy()}
    report["machine"], report["revision"] = run.machine(), run.revision()
    fapiao = str(environment.fapiao_executable())
    h2load = environment.tool("h2load") or "/usr/bin/h2load"
    with contextlib.ExitStack() as stack:
        owned = environment.scratch(stack, o.admin_url, o.redis_url, "stages")
        workdir, url = owned.workdir, owned.url
        log(f"database {owned.database}, Redis prefix {owned.redis_prefix}, work folder {workdir}")
        env = {**os.environ, "FAPIAO_DATABASE_URL": url, "FAPIAO_LOG_LEVEL": "WARNING"}
        environment.run_bounded([fapiao, "migrate"], env=env, timeout=120, what="fapiao migrate")
        templates = lifecycle.issue_templates(o.bodies + 1, 1, seed=20261207)
        _, key = lifecycle.taxpayer(url, "bench-stages", templates)
        bodies = []
        for index, template in enumerate(templates[: o.bodies]):
            bodies.append(workdir / f"issue-{index}.grpc")
            bodies[-1].write_bytes(loadgen.grpc_frame(template))

        spans_file = o.keep_spans or workdir / "spans.jsonl"
        counts_file = workdir / "span-counts.json"
        sink = environment.ServerProcess(
            "otlp-sink",
            [sys.executable, str(environment.BENCH_DIR / "otlp_sink.py"), "--keep", str(spans_file),
             "--counts", str(counts_file)],
            env=dict(os.environ), log_dir=workdir,
        )  # fmt: skip
        stack.callback(sink.stop)
        sink.launch().wait_ready()
        common = {
            **env,
            "FAPIAO_MIGRATE_ON_START": "false",
            "FAPIAO_SHUTDOWN_GRACE_SECONDS": "3",
            "FAPIAO_CACHE": "on",
            "FAPIAO_REDIS_URL": o.redis_url,
            "FAPIAO_REDIS_KEY_PREFIX": owned.redis_prefix,
            **run.QUOTA_SETTINGS,
        }
        traced = {
            "FAPIAO_OTEL_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink.address}",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(o.sample),
        }
        nodes = {"untraced": {"FAPIAO_OTEL_EXPORTER": "none"}, "traced": {**traced, "OTEL_SERVICE_NAME": "traced"}}
        if o.compare is not None:  # the same node with some settings changed, in the same rotation
            name, _, assignments = o.compare.partition(":")
            changed = dict(pair.split("=", 1) for pair in assignments.split(","))
            # Traced like the traced node when --compare-traced, so their stages can be set side by side.
            tracing = {**traced, "OTEL_SERVICE_NAME": name} if o.compare_traced else {"FAPIAO_OTEL_EXPORTER": "none"}
            nodes[name] = {**tracing, **changed}
        # Each node has a database (a copy of the migrated one, with the principal) and a Redis namespace of its
        # own: sharing them, every node's workers would hear and handle the others' change announcements, and the
        # node measured would share the cores with that work of its idle twins.
        databases = {"untraced": (owned.database, url)}
        for name in nodes:
            if name != "untraced":
                copy = f"{owned.database}_{name.replace('-', '_')}"
                stack.callback(lambda copy=copy: environment.drop_database(o.admin_url, copy))
                databases[name] = (copy, environment.copy_database(o.admin_url, owned.database, copy))
        serve = [fapiao, "serve", "--listen", "127.0.0.1:0", "--workers", str(o.workers)]
        servers = {}
        for name, settings in nodes.items():
            own = {"FAPIAO_DATABASE_URL": databases[name][1], "FAPIAO_REDIS_KEY_PREFIX": f"{owned.redis_prefix}{name}:"}
            servers[name] = environment.ServerProcess(name, serve, env={**common, **settings, **own}, log_dir=workdir)
        for server in servers.values():
            stack.callback(server.stop)
            server.launch()
        for server in servers.values():
            server.wait_ready()
        canned = workdir / "canned.bin"
        canned.write_bytes(_issue_sample(servers["untraced"].address, key, templates[-1]))
        floor_args = [sys.executable, str(environment.BENCH_DIR / "noop_server.py"), "--listen", "127.0.0.1:0",
                      "--workers", str(o.workers), "--response", str(canned)]  # fmt: skip
        servers["floor"] = environment.ServerProcess("floor", floor_args, env=common, log_dir=workdir)
        stack.callback(servers["floor"].stop)
        servers["floor"].launch().wait_ready()
        floor_body = workdir / "floor.grpc"
        sample = run.verify_request(run.batch_invoices(url, 1)[0])  # the floor answers it with `canned`
        floor_body.write_bytes(loadgen.grpc_frame(sample.SerializeToString()))
        log(", ".join(f"{name} at {s.address}" for name, s in servers.items()) + f"; spans to {sink.address}")

        done = {"succeeded": 0, "started": 0}
        before = sum(lifecycle._invoice_count(database_url) for _, database_url in databases.values())

        def measure(name: str, rate_per_connection: int | None, seconds: float) -> dict[str, Any]:
            server = servers[name]
            path, run_bodies = (FLOOR_PATH, [floor_body] * len(bodies)) if name == "floor" else (ISSUE_PATH, bodies)
            pids = [server.pid, *server.worker_pids()]
            database = databases.get(name, databases["untraced"])[0]
            meter = cpu.CpuMeter(lambda: pids, lambda: run.backend_pids(o.admin_url, [database]))
            waits = BackendWaits(o.admin_url, database) if name != "floor" else contextlib.nullcontext()
            with meter, waits:
                result = loadgen.h2load_fleet(
                    h2load, f"http://{server.address}{path}", run_bodies, streams=o.streams, duration=seconds,
                    caller=f"bench-stages-{name}", credential=key, log_dir=workdir,
                    rps_per_connection=rate_per_connection,
                )  # fmt: skip
            assert meter.shares is not None
            if result.failed or result.errored or result.timeouts or result.status_2xx != result.succeeded:
                raise RuntimeError(f"h2load saw failures against {name}: {result.summary()}")
            if name != "floor":
                done["succeeded"] += result.succeeded
                done["started"] += result.started
            p50, p99 = loadgen.percentiles_ms(result.durations_us)
            out = {"per_second": round(result.requests_per_second, 1), "p50_ms": p50, "p99_ms": p99,
                   "cpu_cores": meter.shares.summary()}  # fmt: skip
            if isinstance(waits, BackendWaits):
                out["backends"] = waits.summary()
            log(f"  {name}{'' if rate_per_connection is None else f' at {rate_per_connection * len(bodies)}/s'}: "
                f"{out['per_second']:,.0f}/s, p50 {p50} ms, p99 {p99} ms")  # fmt: skip
            return out

        log("warming up")
        order = ("untraced", "traced", "floor", *([] if o.compare is None else [o.compare.partition(":")[0]]))
        for name in order:
            measure(name, None, o.warmup_seconds)
        log(f"closed-loop maximum of the untraced node: {o.max_rounds} round(s) of {o.max_seconds:g} s")
        maxima = [measure("untraced", None, o.max_seconds) for _ in range(o.max_rounds)]
        maximum = statistics.median(m["per_second"] for m in maxima)
        per_connection = max(1, round(o.fraction * maximum / len(bodies)))
        offered = per_connection * len(bodies)
        report["maximum"] = {"per_second": maximum, "rounds": maxima}
        log(f"open loop at {offered}/s ({o.fraction:g} of {maximum:,.0f}/s): {o.rounds} rotating round(s)")
        rounds, since_ns = [], time.time_ns()
        for index in range(o.rounds):
            turn = order[index % len(order) :] + order[: index % len(order)]
            rounds.append({name: measure(name, per_connection, o.rate_seconds) for name in turn})
        report["rounds"] = rounds
        if o.profile is not None:  # one more open-loop run of the untraced node, a worker under py-spy
            import threading

            o.profile.mkdir(parents=True, exist_ok=True)
            output, failed = o.profile / "issue-stages-untraced.txt", []
            worker = servers["untraced"].worker_pids()[0]
            py_spy = environment.tool("py-spy") or "py-spy"
            recorder = threading.Thread(
                target=lambda: failed.append(pyspy.record(py_spy, worker, o.rate_seconds - 2, output))
            )
            recorder.start()
            profiled = measure("untraced", per_connection, o.rate_seconds)
            recorder.join()
            report["profile"] = {"load": profiled} | (
                {"error": failed[0]} if failed and failed[0] else pyspy.summarise(output, top=40)
            )
        time.sleep(2)  # the last group commits land and the last spans leave
        issued = sum(lifecycle._invoice_count(database_url) for _, database_url in databases.values()) - before
        sink.stop()
        received = json.loads(counts_file.read_text())
        spans = [json.loads(line) for line in spans_file.read_text().splitlines() if line]
        # Only the open-loop rounds' calls: the traced node's warm-up was traced too.
        calls, made_of = call_stages([s for s in spans if s["service"] == "traced"], since_ns)
        report["spans_received"] = received
        report["stages"] = summarise(calls)
        report["batches"] = made_of
        if o.compare is not None and o.compare_traced:
            name = o.compare.partition(":")[0]
            calls, made_of = call_stages([s for s in spans if s["service"] == name], since_ns)
            report["compared"] = {"name": name, "stages": summarise(calls), "batches": made_of}

    def median(name: str, field: str) -> float:
        return statistics.median(r[name][field] for r in rounds if r[name][field] is not None)

    p99 = {name: median(name, "p99_ms") for name in order}
    report["summary"] = {
        "maximum_per_second": maximum,
        "offered_per_second": offered,
        "p50_ms": {name: median(name, "p50_ms") for name in order},
        "p99_ms": p99,
        "p99_ratio_to_floor": round(p99["untraced"] / p99["floor"], 2),
        "target_ratio": TARGET_RATIO,
        "target_holds": p99["untraced"] <= TARGET_RATIO * p99["floor"],
    }
    report["answers"] = {
        "issued": issued,
        **done,
        "ok": done["succeeded"] <= issued <= done["started"] + 1,  # +1: the floor's sample
    }
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    return report


def markdown(report: dict[str, Any]) -> str:
    s, m, st = report["summary"], report["machine"], report["stages"]
    out = [
        f"Run {report['started']}, revision {report['revision']}, {m.get('cpus')} CPUs ({m.get('cpu_model')}), "
        f"{report['options']['workers']} workers; IssueInvoice maximum {s['maximum_per_second']:,.0f}/s, "
        f"open loop at {s['offered_per_second']}/s ({report['options']['fraction']:g} of it)",
        "",
        "| server | p50 ms (median of rounds) | p99 ms (median of rounds) |",
        "|---|---:|---:|",
        *(f"| {name} | {s['p50_ms'][name]} | {s['p99_ms'][name]} |" for name in s["p99_ms"]),
        "",
        f"p99 untraced / floor: **{s['p99_ratio_to_floor']}** (target at most {s['target_ratio']:g}: "
        f"{'met' if s['target_holds'] else 'missed'})",
        "",
    ]
    if st.get("calls"):
        out += [
            f"Stages of {st['calls']} traced calls (ms; the slowest 1%: {st['slowest']} calls):",
            "",
            "| stage | mean | p50 | p99 | slowest 1%: mean | share |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for stage, v in st["stages"].items():
            out.append(f"| {stage} | {v['mean']} | {v['p50']} | {v['p99']} | {v['slowest_1pct_mean']} "
                       f"| {v['slowest_1pct_share']:.0%} |")  # fmt: skip
        b = report["batches"]
        out += ["", f"Batches ({b['batches']}; sizes {b['batch_sizes']}, of the slowest calls' "
                f"{st['batch_size_of_slowest']}), mean ms per batch: {b['mean_ms_per_batch']}"]  # fmt: skip
    if (compared := report.get("compared")) and compared["stages"].get("calls"):
        mine, theirs = st["stages"], compared["stages"]["stages"]
        out += ["", f"Stages, traced node against {compared['name']} (traced alike; ms, mean / p50 / p99):", "",
                f"| stage | traced | {compared['name']} |", "|---|---|---|"]  # fmt: skip
        for stage in mine:
            out.append(f"| {stage} | {mine[stage]['mean']} / {mine[stage]['p50']} / {mine[stage]['p99']} "
                       f"| {theirs[stage]['mean']} / {theirs[stage]['p50']} / {theirs[stage]['p99']} |")  # fmt: skip
        out += ["", f"{compared['name']} batches: {compared['batches']}"]
    out += ["", "Answers: " + json.dumps(report["answers"])]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~2-minute smoke run")
    parser.add_argument("--fraction", type=float, default=0.3, help="of the closed-loop maximum (default 0.3)")
    parser.add_argument("--sample", type=float, default=0.2, help="share of calls the traced node traces")
    parser.add_argument("--rounds", type=int, help="rotating open-loop rounds (default 3; --quick 1)")
    parser.add_argument("--rate-seconds", type=float, help="seconds per open-loop run (default 20; --quick 8)")
    parser.add_argument("--max-rounds", type=int, help="closed-loop rounds (default 3; --quick 1)")
    parser.add_argument("--max-seconds", type=float, default=8.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--bodies", type=int, default=20, help="different invoices, one h2load process each")
    parser.add_argument("--streams", type=int, default=8, help="concurrent streams per h2load connection")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers per node (default: CPUs)")
    parser.add_argument("--admin-url", default=os.environ.get("FAPIAO_BENCH_DATABASE_URL", run.DEFAULT_ADMIN_URL))
    parser.add_argument("--redis-url", default=os.environ.get("FAPIAO_BENCH_REDIS_URL", run.DEFAULT_REDIS_URL))
    parser.add_argument(
        "--compare",
        metavar="NAME:VAR=VALUE[,VAR=VALUE]",
        help="also measure the untraced node with these settings changed, in the same rotation",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="also py-spy a worker of the untraced node at the rate"
    )
    parser.add_argument("--compare-traced", action="store_true", help="trace the --compare node like the traced one")
    parser.add_argument("--keep-spans", type=Path, help="keep the traced node's spans here (JSON lines)")
    parser.add_argument("--output", type=Path, help="also write the report (.json, or markdown for any other name)")
    o = parser.parse_args(argv)
    o.rounds = o.rounds or (1 if o.quick else 3)
    o.rate_seconds = o.rate_seconds or (8.0 if o.quick else 20.0)
    o.max_rounds = o.max_rounds or (1 if o.quick else 3)
    return o


def main(argv: list[str] | None = None) -> int:
    return run.run_and_report(parse_args(argv), bench, markdown, lambda report: report["answers"]["ok"])


if __name__ == "__main__":
    sys.exit(main())
