"""The server as SREs and new users meet it: health, reflection, workers that come back, draining on SIGTERM,
and the embedded default that needs no configuration at all."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from fapiao.v1 import invoice_service_pb2 as pb_invoices
from fapiao.v1 import invoice_service_pb2_grpc as pb_invoices_grpc
from fapiao.v1 import verification_service_pb2 as pb
from fapiao_client import FapiaoError, VerificationClient, verify_request
from fapiao_server.domain.access import Role
from fapiao_server.domain.taxpayer import uscc_check_character
from tests.conftest import Register
from tests.support.access import authorized
from tests.support.server import NO_QUOTAS, ServerProcess, fapiao_executable

pytestmark = pytest.mark.slow


def test_health_and_reflection(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.address) as channel:
        # Probes need no credentials: balancers and orchestrators have none.
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "fapiao.v1.VerificationService", "fapiao.v1.AuthService", "fapiao.v1.AdminService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # Nor does reflection: it describes only the public contract, and tools do not send it credentials.
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"fapiao.v1.VerificationService", "fapiao.v1.AuthService", "grpc.health.v1.Health"} <= services


def _workers(supervisor: psutil.Process) -> list[psutil.Process]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    alive = [p for p in supervisor.children() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    return [p for p in alive if "spawn_main" in " ".join(p.cmdline())]


def _fleet(database_url: str, *extra: str) -> ServerProcess:
    return ServerProcess(
        "--listen",
        "127.0.0.1:0",
        *extra,
        env={
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_LOG_LEVEL": "WARNING",
            "FAPIAO_SHUTDOWN_GRACE_SECONDS": "20",
            **NO_QUOTAS,
        },
    ).start()


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(database_url: str, register: Register) -> None:
    fleet = _fleet(database_url, "--workers", "2")
    sample = register.sample()
    try:
        assert fleet.process is not None
        supervisor = psutil.Process(fleet.process.pid)
        workers = _workers(supervisor)
        assert len(workers) == 2
        workers[0].kill()
        with VerificationClient(fleet.address) as client:
            for _ in range(20):
                assert client.verify_invoice(**sample.request_fields()).outcome == pb.VERIFICATION_OUTCOME_MATCH
        deadline = time.monotonic() + 30
        while True:
            current = {p.pid for p in _workers(supervisor)}
            if len(current) == 2 and workers[0].pid not in current:
                break
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
    finally:
        fleet.stop()


def test_workers_do_not_outlive_a_killed_supervisor(database_url: str) -> None:
    fleet = _fleet(database_url, "--workers", "2")
    try:
        assert fleet.process is not None
        workers = _workers(psutil.Process(fleet.process.pid))
        assert len(workers) == 2
        fleet.process.kill()
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, "workers kept running (and holding the port) after the supervisor died"
    finally:
        fleet.stop()


def test_sigterm_lets_a_running_batch_finish_then_exits_cleanly(
    database_url: str, register: Register, new_key: Callable[..., str]
) -> None:
    fleet = _fleet(database_url, "--workers", "2")
    samples = register.samples(limit=200)
    signalled = threading.Event()

    def slow_items():  # type: ignore[no-untyped-def]
        for i in range(4000):
            if i % 500 == 0 and i:
                time.sleep(0.3)  # the stream stays in flight across the SIGTERM
            if i == 1000:
                fleet.terminate()
                signalled.set()
            yield verify_request(**samples[i % len(samples)].request_fields())

    try:
        with VerificationClient(fleet.address, token=new_key(), timeout=None) as client:
            results = list(client.batch_verify(slow_items(), chunk_size=250))
        assert signalled.is_set()
        assert [r.index for r in results] == list(range(4000))
        assert all(r.verification.outcome == pb.VERIFICATION_OUTCOME_MATCH for r in results)
        assert fleet.wait(60) == 0
        with VerificationClient(fleet.address, wait_for_ready=False) as late, pytest.raises(FapiaoError) as refused:
            late.verify_invoice(**samples[0].request_fields())
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        fleet.stop()


def test_no_configuration_starts_an_embedded_register_and_the_demo_command_works(tmp_path: Path) -> None:
    """The README's first command, as a new user runs it: no FAPIAO_* settings at all, and a home of its own, where
    the demo leaves the taxpayer's credentials for the CLI."""
    user = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_") and k != "XDG_RUNTIME_DIR"}
    user["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    demo = ServerProcess("--demo", "--listen", "127.0.0.1:0", env={"FAPIAO_DATA_DIR": str(tmp_path / "data"), **user})
    demo.start(timeout=180)
    try:
        # A start says what it serves, not what the embedded PostgreSQL's tools print, nor that a session without
        # XDG_RUNTIME_DIR (a container, a service) has none.
        started = "".join(demo.stderr)
        assert "initdb" not in started and "RuntimeDirWarning" not in started and "XDG_RUNTIME_DIR" not in started
        deadline = time.monotonic() + 10
        while "verify --target" not in demo.output():
            assert time.monotonic() < deadline, demo.output()
            time.sleep(0.1)
        command = next(line for line in demo.output().splitlines() if "verify --target" in line)
        assert "embedded PostgreSQL" in demo.output()
        result = subprocess.run(shlex.split(command.strip()), capture_output=True, text=True, timeout=60, env=user)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "MATCH" in result.stdout
        credentials = tmp_path / "config" / "fapiao" / "credentials.json"
        assert credentials.stat().st_mode & 0o777 == 0o600
        for kind, shown in (("invoice actions", "CREATE_RED_LETTER_FORM"), ("invoice events", "ISSUED")):
            command = next(line for line in demo.output().splitlines() if f"{kind} --target" in line)
            result = subprocess.run(shlex.split(command.strip()), capture_output=True, text=True, timeout=60, env=user)
            assert result.returncode == 0, result.stdout + result.stderr
            assert shown in result.stdout
        # The README's invoice.json example issues as it is, as the demo taxpayer.
        readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
        example = readme.split('```json\n{"invoice_type"', 1)[1].split("```", 1)[0]
        invoice_file = tmp_path / "invoice.json"
        invoice_file.write_text('{"invoice_type"' + example, encoding="utf-8")
        fapiao, target = shlex.split(command.strip())[0], command.split("--target ", 1)[1].split()[0]
        result = subprocess.run(
            [fapiao, "issue", "--target", target, "--file", str(invoice_file)],
            capture_output=True, text=True, timeout=60, env=user,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "91110108MA01ABCD0B" in result.stdout
        # Without --demo nothing is open: a caller without credentials is refused.
        anonymous = {**user, "XDG_CONFIG_HOME": str(tmp_path / "nobody")}
        result = subprocess.run(shlex.split(command.strip()), capture_output=True, text=True, timeout=60, env=anonymous)
        assert result.returncode == 7 and "CREDENTIALS_MISSING" in result.stderr, result.stderr
    finally:
        demo.stop()
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").is_file()


def test_without_migrate_on_start_an_outdated_schema_is_refused(pg_admin_url: str) -> None:
    from tests.support.services import fresh_database

    with fresh_database(pg_admin_url, "unmigrated") as url:
        refused = ServerProcess(
            "--listen", "127.0.0.1:0", env={"FAPIAO_DATABASE_URL": url, "FAPIAO_MIGRATE_ON_START": "false"}
        )
        with pytest.raises(RuntimeError) as failed:
            refused.start(timeout=60)
        assert refused.wait(10) == 2
        assert "run `fapiao migrate`" in str(failed.value)


def test_sigterm_sends_watchers_elsewhere_at_once_with_their_cursor(
    database_url: str, new_key: Callable[..., str]
) -> None:
    """A watch stream would otherwise hold the shutdown for the whole grace period and then be cut off; it ends
    at once with UNAVAILABLE (reason SHUTTING_DOWN) so the client reconnects to another node with its cursor."""
    fleet = _fleet(database_url)
    try:
        tax_id = "91110108MA01ABCDE" + uscc_check_character("91110108MA01ABCDE")
        key = new_key(Role.TAXPAYER, tax_ids=[tax_id])
        with grpc.insecure_channel(fleet.address) as opened:
            channel = authorized(opened, key)
            stream = pb_invoices_grpc.InvoiceServiceStub(channel).WatchInvoices(
                pb_invoices.WatchInvoicesRequest(tax_id=tax_id)
            )
            first = next(stream)
            assert first.cursor and not first.events
            started = time.monotonic()
            fleet.terminate()
            with pytest.raises(grpc.RpcError) as ended:
                next(stream)
            refusal = FapiaoError.from_rpc_error(ended.value)
            assert (refusal.code, refusal.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
            assert fleet.wait(30) == 0
            assert time.monotonic() - started < 10  # well inside the 20 s grace period
    finally:
        fleet.stop()


@pytest.mark.parametrize(("first", "second"), [("2", "2"), ("1", "2"), ("2", "1"), ("1", "1")])
def test_a_second_register_cannot_take_a_port_one_holds(database_url: str, first: str, second: str) -> None:
    """Workers of one `fapiao serve` share its port (SO_REUSEPORT); another register, even of the same user, must
    not join them and answer part of the connections from its own database."""
    holder = _fleet(database_url, "--workers", first)
    try:
        intruder = subprocess.run(
            [str(fapiao_executable()), "serve", "--listen", holder.address, "--workers", second],
            env={**holder.env, "FAPIAO_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/elsewhere"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert intruder.returncode == 2, intruder.stderr
        assert f"{holder.address} is in use by another process" in intruder.stderr
        assert "Traceback" not in intruder.stderr
        with grpc.insecure_channel(holder.address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        holder.stop()
