"""The Locust load tests, run headless for a few seconds against a real fleet: every kind of call is made, the
deliberately bad ones are refused as they should be, nothing else fails, and the business-day shape climbs to
its peaks, dips at lunch and ends the run by itself."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.server import ServerProcess

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


def _locust(
    locustfile: str, server: ServerProcess, database_url: str, csv_prefix: Path, *options: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run Locust headless (short think times so a few seconds cover every task); returns the finished process."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FAPIAO_", "LOCUST_"))}
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOADTESTS / locustfile), "--headless", "--only-summary",
         "--host", server.address, "--csv", str(csv_prefix), *options],
        env={**inherited, "FAPIAO_DATABASE_URL": database_url, "FAPIAO_LOADTEST_SAMPLE_SIZE": "1000",
             "FAPIAO_LOADTEST_MAX_WAIT_SECONDS": "0.05", "FAPIAO_LOADTEST_RATE_LIMIT": "1000",
             "FAPIAO_LOADTEST_ADMIN_KEY": admin_key(database_url), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip


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
    prefix = tmp_path / "steady"
    run = _locust("verification_user.py", server, database_url, prefix, "-u", "6", "-r", "6", "--run-time", "5s")

    stats = _assert_clean_run(run, prefix)
    assert set(stats) == EVERY_CALL
    assert all(int(row["Request Count"]) > 0 for row in stats.values()), stats


def test_issuing_load_makes_every_call_without_unexpected_failures(
    server: ServerProcess, database_url: str, tmp_path: Path
) -> None:
    prefix = tmp_path / "issuing"
    run = _locust("issuing_user.py", server, database_url, prefix, "-u", "4", "-r", "4", "--run-time", "5s")

    stats = _assert_clean_run(run, prefix)
    assert set(stats) == EVERY_ISSUING_CALL
    assert all(int(row["Request Count"]) > 0 for row in stats.values()), stats


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
