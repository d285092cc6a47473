"""What authentication and authorisation cost a warm-cache VerifyInvoice (the target: at most +15%).

    python bench/security.py                    # ~4 minutes on 2 cores
    python bench/security.py --quick            # ~1-minute smoke run
    python bench/security.py --output result.json

Three single-worker servers, each the real Application with the Redis cache (bench/security_server.py), differ
only in their front door:

    open     gate=None: requests are still parsed by the same interceptor; no authentication, no policy
    gate     the AccessGate: API key (or access token) -> principal, policy table, principal bound to the call
    limited  the same plus the fleet rate limiter over Redis at a rate no run reaches (1e9/s)

h2load drives VerifyInvoice of one seeded invoice (MATCH, so the cache stays warm) in a closed loop at
saturation. The four loads (open, gate with an API key, gate with a Login access token, limited with an API key)
take turns, in a rotated order each round, so drift and neighbours hit all alike. Each measurement reports
throughput and the server process's CPU per call (CPU seconds / calls: steadier than throughput on a shared
box); the ratios to ``open`` are medians over rounds. Every h2load success must be a MATCH the register
recorded for that load's principal, and nothing else may be recorded.

The first check of a credential a worker has not seen (a database round trip or two) is measured apart: fresh
API keys and fresh access tokens, each called twice, one call at a time, client-side latency.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cpu
import environment
import loadgen
import principals
import pyspy
import run

TARGET_RATIO = 1.15  # the target: authentication plus authorisation add at most 15%
LOADS = ("open", "gate_key", "gate_token", "limited")
SERVER_OF = {"open": "open", "gate_key": "gate", "gate_token": "gate", "limited": "limited"}
# The principal whose verification records each load's answers are (open binds a fixed one, see the server).
PRINCIPAL_OF = {"open": "bench-security-open", "gate_key": "bench-security-key", "gate_token": "bench-security-token",
                "limited": "bench-security-limited"}  # fmt: skip
LOGIN_PASSWORD = "bench-security-" + "x" * 16
SETTINGS_FOR_GATE = {"FAPIAO_TOKEN_KEY", "FAPIAO_REDIS_URL", "FAPIAO_REDIS_KEY_PREFIX",
                     "FAPIAO_RATE_LIMIT_PER_SECOND", "FAPIAO_DATA_DIR"}  # fmt: skip
SERVER_SETTINGS = {
    "FAPIAO_MIGRATE_ON_START": "false",
    "FAPIAO_SHUTDOWN_GRACE_SECONDS": "3",
    "FAPIAO_LOG_LEVEL": "WARNING",
    "FAPIAO_LISTEN": "127.0.0.1:0",
    "FAPIAO_CACHE": "on",
    # One principal asks for one invoice all run long: the per-invoice daily limit would stop it at 5.
    "FAPIAO_VERIFICATIONS_PER_INVOICE_PER_DAY": "0",
    "FAPIAO_RATE_LIMIT_PER_SECOND": "1e9",
}


def log(message: str) -> None:
    run.log(message)


# --------------------------------------------------------------------------------------------------------------
# Principals and credentials, made straight in the bench database


def bench_keyring(url: str, data_dir: Path) -> Any:
    """The bench database's data keys under its servers' master key (the work folder's, unless the environment
    names one): a login made here must open on the servers."""
    from fapiao_server.config import Settings

    return principals.register_keyring(url, Settings(data_dir=data_dir))


def api_keys(url: str, keyring: Any, principal_id: str, count: int) -> list[str]:
    """``count`` new API keys of a VERIFIER ``principal_id`` (created if missing)."""
    from fapiao_server.domain.access import Principal, PrincipalAccount, Role
    from fapiao_server.entrypoints.provisioning import provision

    account = PrincipalAccount(Principal(principal_id, Role.VERIFIER, display_name="bench"))
    return [done.api_key for done in provision(url, keyring, [account] * count, description="bench/security.py")]


async def _give_login(url: str, keyring: Any, principal_id: str) -> str:
    from fapiao_server.services.administration import Administration
    from fapiao_server.storage.access import PostgresAccess
    from fapiao_server.storage.database import create_pool

    pool = create_pool(url, min_size=1, max_size=1, acquire_timeout=10, statement_timeout_ms=30_000)
    await pool.open(wait=True)
    try:
        admin = Administration(PostgresAccess(pool, keyring))
        secret, _ = await admin.set_login(principal_id, principal_id, LOGIN_PASSWORD)
        return secret
    finally:
        await pool.close()


def access_token(url: str, keyring: Any, address: str, principal_id: str) -> str:
    """An access token of a new VERIFIER ``principal_id`` from a real Login (password and TOTP code)."""
    import grpc
    import pyotp

    from fapiao.v1 import auth_service_pb2, auth_service_pb2_grpc

    api_keys(url, keyring, principal_id, 1)
    secret = asyncio.run(_give_login(url, keyring, principal_id))
    with grpc.insecure_channel(address) as channel:
        answer = auth_service_pb2_grpc.AuthServiceStub(channel).Login(
            auth_service_pb2.LoginRequest(username=principal_id, password=LOGIN_PASSWORD,
                                          totp_code=pyotp.TOTP(secret).now()),
            timeout=30,
        )  # fmt: skip
    return answer.tokens.access_token


# --------------------------------------------------------------------------------------------------------------
# Measurements


def saturate(server: environment.ServerProcess, body: Path, credential: str, setting: tuple[int, int],
             seconds: float, admin_url: str, databases: list[str], label: str) -> dict[str, Any]:  # fmt: skip
    """One closed-loop h2load run; throughput and the server process's CPU per call."""
    meter = cpu.CpuMeter(lambda: [server.pid], lambda: run.backend_pids(admin_url, databases))
    with meter:
        result = loadgen.h2load(
            environment.tool("h2load") or "/usr/bin/h2load", f"http://{server.address}{run.VERIFY_PATH}", body,
            clients=setting[0], streams=setting[1], duration=seconds, caller=label, credential=credential,
        )  # fmt: skip
    assert meter.shares is not None
    if result.failed or result.errored or result.timeouts or result.status_2xx != result.succeeded:
        raise RuntimeError(f"h2load saw failures for {label}: {result.summary()}")
    shares = meter.shares
    return {
        "rps": round(result.requests_per_second, 1),
        "succeeded": result.succeeded,
        "started": result.started,
        "server_cpu_us_per_call": round(shares.server * shares.seconds / max(1, result.succeeded) * 1e6, 1),
        "cpu_cores": shares.summary(),
    }


def first_checks(address: str, body: bytes, credentials: list[str]) -> dict[str, float]:
    """Median client latency of the first call with each credential (the worker has never seen it) and of the
    second (remembered), one call at a time; their difference is what a cold check costs."""
    import grpc

    from fapiao.v1 import verification_service_pb2 as pb

    request = pb.VerifyInvoiceRequest.FromString(body[5:])
    first, second = [], []
    with grpc.insecure_channel(address) as channel:
        verify = channel.unary_unary(
            run.VERIFY_PATH,
            request_serializer=pb.VerifyInvoiceRequest.SerializeToString,
            response_deserializer=pb.VerifyInvoiceResponse.FromString,
        )
        for credential in credentials:
            metadata = (("authorization", f"Bearer {credential}"),)
            for into in (first, second):
                started = time.perf_counter()
                answer = verify(request, metadata=metadata, timeout=10)
                into.append((time.perf_counter() - started) * 1e6)
                if answer.outcome != run.MATCH:
                    raise RuntimeError(f"the sample invoice did not verify as MATCH: {answer}")
    cold, warm = statistics.median(first), statistics.median(second)
    return {"credentials": len(credentials), "first_call_us": round(cold, 1), "second_call_us": round(warm, 1),
            "cold_check_us": round(cold - warm, 1)}  # fmt: skip


async def _gate_alone(
    url: str, keyring: Any, env: dict[str, str], credentials: dict[str, str], calls: int
) -> dict[str, float]:
    """Microseconds per AccessGate.admit of a remembered credential, in this process (no gRPC, no neighbours'
    noise in the figure beyond their share of the CPU): with the API key, the access token, and the API key plus
    the fleet rate limiter over Redis."""
    from security_server import AdmitAll

    from fapiao_server.app import create_quota_store, token_signer
    from fapiao_server.config import Settings
    from fapiao_server.quotas.rate_limiter import FleetRateLimiter
    from fapiao_server.services.authentication import Authenticator
    from fapiao_server.storage.access import PostgresAccess
    from fapiao_server.storage.database import create_pool
    from fapiao_server.transport.access_gate import AccessGate

    settings = Settings(**{k[len("FAPIAO_") :].lower(): v for k, v in env.items() if k in SETTINGS_FOR_GATE})
    pool = create_pool(url, min_size=1, max_size=2, acquire_timeout=10, statement_timeout_ms=30_000)
    await pool.open(wait=True)
    store = create_quota_store(settings)
    try:
        authenticator = Authenticator(PostgresAccess(pool, keyring), token_signer(settings))
        limiter = FleetRateLimiter(store, default_rate=settings.rate_limit_per_second)
        gates = {"gate_key": (AccessGate(authenticator, AdmitAll()), credentials["gate_key"]),  # type: ignore[arg-type]
                 "gate_token": (AccessGate(authenticator, AdmitAll()), credentials["gate_token"]),  # type: ignore[arg-type]
                 "limited": (AccessGate(authenticator, limiter), credentials["limited"])}  # fmt: skip
        out = {}
        for load, (gate, credential) in gates.items():
            metadata = (("authorization", f"Bearer {credential}"),)
            await gate.admit(run.VERIFY_PATH, metadata, None)  # type: ignore[arg-type]  # the first check, untimed
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(calls):
                    await gate.admit(run.VERIFY_PATH, metadata, None)  # type: ignore[arg-type]
                best = min(best, (time.perf_counter() - started) / calls * 1e6)
            out[f"{load}_admit_us"] = round(best, 2)
        return out
    finally:
        if store is not None:
            await store.close()
        await pool.close()


def gate_alone(
    url: str, keyring: Any, env: dict[str, str], credentials: dict[str, str], calls: int = 20_000
) -> dict[str, float]:
    return asyncio.run(_gate_alone(url, keyring, env, credentials, calls))


def ratios(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per load: median CPU per call and throughput over rounds, and their ratios to ``open`` (each round's ratio
    taken within the round, then the median, so a busy neighbour in one round cancels out)."""
    out: dict[str, dict[str, float]] = {}
    for load in LOADS:
        cost = [r[load]["server_cpu_us_per_call"] / r["open"]["server_cpu_us_per_call"] for r in rounds]
        slower = [r["open"]["rps"] / r[load]["rps"] for r in rounds]
        out[load] = {
            "server_cpu_us_per_call": statistics.median(r[load]["server_cpu_us_per_call"] for r in rounds),
            "rps": statistics.median(r[load]["rps"] for r in rounds),
            "cpu_ratio_to_open": round(statistics.median(cost), 3),
            "throughput_cost_ratio_to_open": round(statistics.median(slower), 3),
        }
    return out


def answers_check(url: str, sent: dict[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """For each load's principal, the MATCH records must cover every success h2load counted (and at most what it
    started), with no other outcome: h2load counts any HTTP 200, and gRPC errors travel in trailers."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT caller, outcome = %s, count(*) FROM verification_records GROUP BY 1, 2", (run.MATCH,)
        ).fetchall()
    counts = {(caller, match): n for caller, match, n in rows}
    checks = {}
    for load, (succeeded, started) in sent.items():
        principal = PRINCIPAL_OF[load]
        matched, other = counts.get((principal, True), 0), counts.get((principal, False), 0)
        checks[load] = {"principal": principal, "h2load_succeeded": succeeded, "h2load_started": started,
                        "match_records": matched, "other_records": other,
                        "ok": succeeded <= matched <= started and other == 0}  # fmt: skip
    return checks


# --------------------------------------------------------------------------------------------------------------
# The run


def bench(o: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "options": vars(o).copy()}
    report["machine"], report["revision"] = run.machine(), run.revision()
    fapiao = str(environment.fapiao_executable())
    with contextlib.ExitStack() as stack:
        owned = environment.scratch(stack, o.admin_url, o.redis_url, "security")
        workdir, name, url, prefix = owned.workdir, owned.database, owned.url, owned.redis_prefix
        log(f"database {name}, Redis prefix {prefix}, work folder {workdir}")
        # The keys (master, signing, token) live in the work folder, shared by every server of this run only.
        env = {**os.environ, "FAPIAO_DATABASE_URL": url, "FAPIAO_DATA_DIR": str(workdir / "data"),
               "FAPIAO_TOKEN_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
               "FAPIAO_REDIS_URL": o.redis_url, "FAPIAO_REDIS_KEY_PREFIX": prefix, **SERVER_SETTINGS}  # fmt: skip
        environment.run_bounded([fapiao, "migrate"], env=env, timeout=120, what="fapiao migrate")
        environment.run_bounded([fapiao, "seed", "--invoices", str(o.invoices)], env=env,
                                timeout=120 + o.invoices / 500, what="fapiao seed")  # fmt: skip
        body = workdir / "verify.grpc"
        body.write_bytes(loadgen.grpc_frame(run.verify_request(run.unary_invoice(url)).SerializeToString()))

        servers = {}
        for variant in ("open", "gate", "limited"):
            args = [sys.executable, str(environment.BENCH_DIR / "security_server.py"), "--variant", variant]
            servers[variant] = environment.ServerProcess(variant, args, env=env, log_dir=workdir)
            stack.callback(servers[variant].stop)
            servers[variant].launch()
        for server in servers.values():
            server.wait_ready()
        log("servers: " + ", ".join(f"{k} at {s.address} (pid {s.pid})" for k, s in servers.items()))

        keyring = bench_keyring(url, workdir / "data")
        credentials = {
            # the open server ignores it; same bytes on the wire
            "open": api_keys(url, keyring, "bench-security-key", 1)[0],
            "gate_key": api_keys(url, keyring, "bench-security-key", 1)[0],
            "gate_token": access_token(url, keyring, servers["gate"].address, "bench-security-token"),
            "limited": api_keys(url, keyring, "bench-security-limited", 1)[0],
        }
        setting, sent = (o.connections, o.streams), {load: (0, 0) for load in LOADS}

        def measure(load: str, seconds: float) -> dict[str, Any]:
            m = saturate(servers[SERVER_OF[load]], body, credentials[load], setting, seconds, o.admin_url, [name],
                         f"bench-security-{load}")  # fmt: skip
            done, started = sent[load]
            sent[load] = (done + m["succeeded"], started + m["started"])
            return m

        log("warming caches and credentials")
        for load in LOADS:
            measure(load, o.warmup_seconds)
        rounds = []
        for index in range(o.rounds):
            order = LOADS[index % len(LOADS) :] + LOADS[: index % len(LOADS)]
            measured = {load: measure(load, o.seconds) for load in order}
            rounds.append(measured)
            figures = (f"{load} {m['rps']:.0f}/s {m['server_cpu_us_per_call']:.0f} us" for load, m in measured.items())
            log(f"round {index + 1}/{o.rounds}: " + ", ".join(figures))
        report["rounds"], report["summary"] = rounds, ratios(rounds)

        log(f"first checks of {o.fresh_keys} fresh API keys and {o.fresh_tokens} fresh access tokens")
        fresh_keys = api_keys(url, keyring, "bench-security-cold", o.fresh_keys)
        fresh_tokens = [access_token(url, keyring, servers["gate"].address, f"bench-security-cold-{i}")
                        for i in range(o.fresh_tokens)]  # fmt: skip
        report["first_check"] = {
            "api_key": first_checks(servers["gate"].address, body.read_bytes(), fresh_keys),
            "access_token": first_checks(servers["gate"].address, body.read_bytes(), fresh_tokens),
        }
        report["gate_alone"] = gate_alone(url, keyring, env, credentials)
        log(f"AccessGate.admit alone: {report['gate_alone']}")
        if o.profile is not None:
            o.profile.mkdir(parents=True, exist_ok=True)
            report["profiles"] = {}
            for load in ("open", "gate_key"):
                server = servers[SERVER_OF[load]]
                report["profiles"][load], result = pyspy.under_h2load(
                    server.pid, f"http://{server.address}{run.VERIFY_PATH}", body, credentials[load], setting,
                    o.seconds * 2, o.profile, f"security-{load}",
                )  # fmt: skip
                done, started = sent[load]
                sent[load] = (done + result.succeeded, started + result.started)
        for server in servers.values():
            server.stop()  # drains: every verification record is written before the check
        report["answers"] = answers_check(url, sent)
    report["target_holds"] = report["summary"]["gate_key"]["cpu_ratio_to_open"] <= TARGET_RATIO
    return report


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    out = [f"Run {report['started']}, revision {report['revision']}, {report['machine'].get('cpus')} CPUs", "",
           "| load | req/s (median) | server CPU us/call | CPU ratio to open | throughput cost ratio |",
           "|---|---:|---:|---:|---:|"]  # fmt: skip
    for load in LOADS:
        r = s[load]
        out.append(f"| {load} | {r['rps']:,.0f} | {r['server_cpu_us_per_call']:.0f} | {r['cpu_ratio_to_open']:.3f} "
                   f"| {r['throughput_cost_ratio_to_open']:.3f} |")  # fmt: skip
    out += ["", f"Target (gate_key CPU ratio <= {TARGET_RATIO}): {'holds' if report['target_holds'] else 'MISSED'}"]
    for kind, f in report["first_check"].items():
        out.append(f"First check of a fresh {kind}: {f['first_call_us']:.0f} us vs {f['second_call_us']:.0f} us "
                   f"remembered (+{f['cold_check_us']:.0f} us, median of {f['credentials']})")  # fmt: skip
    out.append("AccessGate.admit alone, us per call: " + json.dumps(report["gate_alone"]))
    out += ["", "Answers: " + json.dumps(report["answers"])]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 8; --quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 6; --quick 3)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--streams", type=int, default=16, help="concurrent streams per connection")
    parser.add_argument("--invoices", type=int, help="invoices to seed (default 20000; --quick 2000)")
    parser.add_argument("--fresh-keys", type=int, help="fresh API keys for the first-check figure (default 50)")
    parser.add_argument("--fresh-tokens", type=int, help="fresh access tokens (a Login each; default 5)")
    parser.add_argument("--admin-url", default=os.environ.get("FAPIAO_BENCH_DATABASE_URL", run.DEFAULT_ADMIN_URL))
    parser.add_argument("--redis-url", default=os.environ.get("FAPIAO_BENCH_REDIS_URL", run.DEFAULT_REDIS_URL))
    parser.add_argument("--profile", type=Path, metavar="DIR", help="also py-spy the open and gated servers")
    parser.add_argument("--output", type=Path, help="also write the report (.json, or markdown for any other name)")
    o = parser.parse_args(argv)
    quick = o.quick
    o.rounds = o.rounds or (2 if quick else 8)
    o.seconds = o.seconds or (3.0 if quick else 6.0)
    o.invoices = o.invoices or (2000 if quick else 20000)
    o.fresh_keys = o.fresh_keys or (10 if quick else 50)
    o.fresh_tokens = o.fresh_tokens or (2 if quick else 5)
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    report = bench(o)
    text = markdown(report)
    print(text)
    if o.output is not None:
        o.output.write_text(json.dumps(report, indent=2, default=str) if o.output.suffix == ".json" else text)
    return 0 if all(c["ok"] for c in report["answers"].values()) else 2


if __name__ == "__main__":
    sys.exit(main())
