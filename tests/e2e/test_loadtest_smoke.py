"""The Locust load tests, run headless for a few seconds against a real fleet: every kind of call is made, the
deliberately bad ones are refused as they should be, nothing else fails, and the business-day shape climbs to
its peaks, dips at lunch and ends the run by itself. Every run is judged against the SLO thresholds (slo.toml
unless told otherwise), also when a master gathers the calls of two workers; a TLS register is dialled too."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.certificates import CertificateAuthority
from tests.support.server import NO_QUOTAS, ServerProcess
from tests.support.services import free_port

pytestmark = pytest.mark.slow

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
EVERY_CALL = {
    "VerifyInvoice",
    "VerifyInvoice [not found]",
    "VerifyInvoice [invalid]",
    "VerifyQrCode",
    "VerifyQrCode [invalid]",
    "BatchVerifyInvoices",
    "ListVerificationRecords",
}
EVERY_ISSUING_CALL = {
    "IssueInvoice",
    "IssueInvoice [invalid]",
    "ListInvoices",
    "GetAllowedActions",
    "VoidInvoice",
    "VoidInvoice [refused]",
    "CreateRedLetterForm",
    "IssueRedInvoice",
}
PEAK_USERS = 6
HOUR_LOG = re.compile(r"Beijing (\d\d):00, (\d+) users")
SLO_MET = "SLO met: every call within"
# Sub-millisecond verifications, when each one is recorded in PostgreSQL before it is answered.
IMPOSSIBLE_SLO = "[calls.VerifyInvoice]\np95_ms = 0\n"


def _command(locustfile: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOADTESTS / locustfile), *options]


def _environment(database_url: str, **env: str) -> dict[str, str]:
    """Short think times so a few seconds cover every task; nothing of the outer shell's FAPIAO_ or LOCUST_."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FAPIAO_", "LOCUST_"))}
    return {**inherited, "FAPIAO_DATABASE_URL": database_url, "FAPIAO_LOADTEST_SAMPLE_SIZE": "1000",
            "FAPIAO_LOADTEST_MAX_WAIT_SECONDS": "0.05", "FAPIAO_LOADTEST_RATE_LIMIT": "1000",
            "FAPIAO_LOADTEST_ADMIN_KEY": admin_key(database_url), **env}  # fmt: skip


def _locust(
    locustfile: str, host: ServerProcess | str, database_url: str, csv_prefix: Path, *options: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run Locust headless in one process against ``host`` (a server, or a --host as given); returns it finished."""
    address = host.address if isinstance(host, ServerProcess) else host
    return subprocess.run(
        _command(locustfile, "--headless", "--only-summary", "--host", address, "--csv", str(csv_prefix), *options),
        env=_environment(database_url, **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def admin_key(database_url: str) -> str:
    """The load test makes its users' principals through AdminService, as an operator would."""
    return principal_key(database_url, Role.ADMIN, principal_id="loadtest-admin")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _assert_clean_run(run: subprocess.CompletedProcess[str], csv_prefix: Path) -> dict[str, dict[str, str]]:
    assert run.returncode == 0, run.stderr[-4000:]
    assert _rows(Path(f"{csv_prefix}_failures.csv")) == []
    assert _rows(Path(f"{csv_prefix}_exceptions.csv")) == []
    stats = {row["Name"]: row for row in _rows(Path(f"{csv_prefix}_stats.csv")) if row["Type"] == "grpc"}
    assert {name: int(row["Failure Count"]) for name, row in stats.items()} == dict.fromkeys(stats, 0)
    return stats


def test_steady_load_makes_every_call_without_unexpected_failures(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    prefix, report = tmp_path / "steady", tmp_path / "report" / "steady.html"
    run = _locust(
        "verification_user.py", server, database_url, prefix, "-u", "6", "-r", "6", "--run-time", "5s",
        "--html", str(report),
    )  # fmt: skip

    stats = _assert_clean_run(run, prefix)
    assert set(stats) == EVERY_CALL
    assert all(int(row["Request Count"]) > 0 for row in stats.values()), stats
    assert f"{SLO_MET} {LOADTESTS / 'slo.toml'}" in run.stderr  # the shipped thresholds, with no --slo given
    assert all(name in report.read_text(encoding="utf-8") for name in EVERY_CALL)


def test_issuing_load_makes_every_call_without_unexpected_failures(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    prefix, impossible = tmp_path / "issuing", tmp_path / "impossible.toml"
    impossible.write_text("[default]\np95_ms = 0\n", encoding="utf-8")  # IssueInvoice, at least, would breach it
    # The flag wins over the environment, and "none" reads no file at all.
    run = _locust(
        "issuing_user.py", server, database_url, prefix, "-u", "4", "-r", "4", "--run-time", "5s", "--slo", "none",
        FAPIAO_LOADTEST_SLO=str(impossible),
    )  # fmt: skip

    stats = _assert_clean_run(run, prefix)
    assert set(stats) == EVERY_ISSUING_CALL
    assert all(int(row["Request Count"]) > 0 for row in stats.values()), stats
    assert "SLO" not in run.stderr


def test_business_day_peaks_twice_dips_at_lunch_and_ends_by_itself(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    prefix = tmp_path / "day"
    # 8640 simulated seconds per real second: the day in 10 s, one shape tick every ~2.4 simulated hours.
    run = _locust(
        "business_day.py", server, database_url, prefix,
        FAPIAO_LOADTEST_COMPRESSION="8640", FAPIAO_LOADTEST_PEAK_USERS=str(PEAK_USERS),
    )  # fmt: skip

    stats = _assert_clean_run(run, prefix)
    assert sum(int(row["Request Count"]) for row in stats.values()) > 0
    day = [(int(hour), int(users)) for hour, users in HOUR_LOG.findall(run.stderr)]
    hours, users = [hour for hour, _ in day], [count for _, count in day]
    assert hours == sorted(hours) and hours[0] == 0 and hours[-1] >= 20, day
    assert users[0] == 1 and users[-1] == 1, day
    first_peak, last_peak = users.index(PEAK_USERS), len(users) - 1 - users[::-1].index(PEAK_USERS)
    assert hours[first_peak] < 12 < hours[last_peak], day
    assert min(users[first_peak:last_peak]) < PEAK_USERS / 2, day


def test_a_thresholds_file_it_cannot_use_stops_the_run_before_any_load(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    misspelt = tmp_path / "misspelt.toml"
    misspelt.write_text("[default]\np99 = 250\n", encoding="utf-8")

    run = _locust("verification_user.py", server, database_url, tmp_path / "bad", "--run-time", "5s",
                  FAPIAO_LOADTEST_SLO=str(misspelt))  # fmt: skip

    assert run.returncode == 1
    assert f"loadtests: --slo {misspelt}: default: unknown p99" in run.stderr
    assert _rows(Path(f"{tmp_path / 'bad'}_stats.csv")) == []  # not even a summary: nothing was measured


def _distributed(
    server: ServerProcess, database_url: str, csv_prefix: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """One master and two workers on this machine, bounded in time; returns the master, finished."""
    port, env = str(free_port()), _environment(database_url)
    workers = [
        subprocess.Popen(_command("verification_user.py", "--worker", "--master-host", "127.0.0.1", "--master-port",
                                  port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]  # fmt: skip
    try:
        return subprocess.run(
            _command("verification_user.py", "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                     port, "--expect-workers", "2", "--expect-workers-max-wait", "30", "--headless", "--only-summary",
                     "--host", server.address, "--csv", str(csv_prefix), "-u", "4", "-r", "4", "--run-time", "4s",
                     *options),
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        for worker in workers:  # a worker quits when its master does; one that lingers is stopped
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def test_a_distributed_run_meets_the_slo_on_the_master_and_writes_its_report(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    prefix, report = tmp_path / "fleet", tmp_path / "fleet.html"

    run = _distributed(server, database_url, prefix, "--html", str(report))

    stats = _assert_clean_run(run, prefix)
    assert SLO_MET in run.stderr
    assert int(stats["VerifyInvoice"]["Request Count"]) > 0
    assert "VerifyInvoice" in report.read_text(encoding="utf-8")


def test_a_distributed_run_that_breaches_its_slo_exits_1_naming_the_breach(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    prefix, impossible = tmp_path / "breach", tmp_path / "impossible.toml"
    impossible.write_text(IMPOSSIBLE_SLO, encoding="utf-8")

    run = _distributed(server, database_url, prefix, "--slo", str(impossible))

    assert run.returncode == 1, run.stderr[-4000:]
    assert re.findall(r"^SLO breach: .*$", run.stderr, re.MULTILINE) == [
        f"SLO breach: VerifyInvoice p95 {_p95(prefix, 'VerifyInvoice')} ms > 0 ms"
    ]
    assert _rows(Path(f"{prefix}_failures.csv")) == []  # the exit code is the gate's: no call failed


def _p95(csv_prefix: Path, name: str) -> str:
    return next(row["95%"] for row in _rows(Path(f"{csv_prefix}_stats.csv")) if row["Name"] == name)


@pytest.fixture(scope="module")
def tls_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A register serving only TLS, with a certificate from a private CA; yields it and the CA's certificate."""
    ca = CertificateAuthority(tmp_path_factory.mktemp("loadtest-tls"))
    served = ca.issue("localhost", server=True)
    server = ServerProcess(
        "--listen", "127.0.0.1:0",
        env={"FAPIAO_DATABASE_URL": database_url, "FAPIAO_TLS_CERT_FILE": str(served.certificate),
             "FAPIAO_TLS_KEY_FILE": str(served.key), "FAPIAO_LOG_LEVEL": "WARNING", **NO_QUOTAS},
    ).start()  # fmt: skip
    yield server, ca.certificate
    server.stop()


@pytest.mark.parametrize(
    ("scheme", "trust"),
    [
        ("https://", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"),  # TLS by the scheme, trusting the "system's" CAs
        ("", "FAPIAO_CA_CERT"),  # TLS by the CA given, as the fapiao CLI reads it
    ],
)
def test_the_users_dial_a_tls_register(
    tls_server: tuple[ServerProcess, Path], database_url: str, tmp_path: Path, scheme: str, trust: str
) -> None:
    server, ca_certificate = tls_server
    prefix = tmp_path / "tls"

    run = _locust("verification_user.py", f"{scheme}{server.address}", database_url, prefix,
                  "-u", "2", "-r", "2", "--run-time", "3s", **{trust: str(ca_certificate)})  # fmt: skip

    stats = _assert_clean_run(run, prefix)
    assert int(stats["VerifyInvoice"]["Request Count"]) > 0
