"""loadtests/README.md's "Run it on a fresh machine" block, run as written: install, seed the embedded register, make
the admin key, start a server on it, replay the business day and stop. Only the documented knobs around it differ
(a fresh HOME so the embedded register is new, the day replayed in seconds, a free port), so a README that cannot be
followed word for word fails here.

The block installs into the checkout's .venv, as the README says: the running one when the suite runs from it (as
`.ci/run` does; a few seconds), otherwise a new one beside it."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.services import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "loadtests" / "README.md"
SECTION = "## Run it on a fresh machine"


def readme_block() -> str:
    """The first ``sh`` block under the section's heading, exactly as a reader would paste it."""
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, f"no sh block under {SECTION!r}"
    return match.group(1)


def test_the_block_is_the_one_described() -> None:
    block = readme_block()
    for step in ("pip install", "fapiao seed", "FAPIAO_LOADTEST_ADMIN_KEY=", "fapiao serve", "locust -f", "kill %1"):
        assert step in block, step
    assert "FAPIAO_DATABASE_URL" not in block  # the embedded default, nothing to configure


def _environment(home: Path, port: int) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FAPIAO_", "LOCUST_", "XDG_", "VIRTUAL_ENV", "PG"))
    }
    # `python3 -m venv .venv` must mean the interpreter the checkout's .venv was made with: another one (an older
    # system python3 ahead on PATH) would rewrite the running environment under the suite.
    base = Path(sys._base_executable).parent  # type: ignore[attr-defined]
    return {
        **inherited,
        "PATH": f"{base}{os.pathsep}{inherited.get('PATH', '')}",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "FAPIAO_LISTEN": f"127.0.0.1:{port}",
        "LOCUST_HOST": f"127.0.0.1:{port}",
        "FAPIAO_LOADTEST_COMPRESSION": "8640",  # the day in 10 s
        "FAPIAO_LOADTEST_PEAK_USERS": "4",
    }


def _stop_leftovers(home: Path) -> list[str]:
    """Stop what still runs from the fresh HOME (a server, the embedded PostgreSQL) and say what it was: the block
    stops them itself, but one that failed half-way (bash -e) leaves its background server running."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            command = " ".join(process.info["cmdline"] or ())
            if str(home) in command or (process.info["environ"] or {}).get("HOME") == str(home):
                found.append(command)
                process.terminate()
        except psutil.Error:
            continue
    return found


def test_the_fresh_machine_block_runs_the_business_day_on_the_embedded_register(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    runner = subprocess.Popen(
        ["bash", "-e", "-c", readme_block()],
        cwd=ROOT,
        env=_environment(home, free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = runner.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(runner.pid, signal.SIGKILL)
        output, _ = runner.communicate()
        pytest.fail(f"the README block did not finish within 300 s:\n{output[-4000:]}")
    finally:
        left_running = _stop_leftovers(home)
    tail = output[-6000:]
    assert runner.returncode == 0, tail
    assert "added 20000 invoices" in output, tail
    assert "SLO met: every call within" in output and "Shutting down (exit code 0)" in output, tail
    assert "Traceback" not in output, tail

    with open(home / "tmp" / "fapiao-day_stats.csv", newline="", encoding="utf-8") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    calls = {name: int(row["Request Count"]) for name, row in rows.items() if name != "Aggregated"}
    # Which calls a 10-second day makes is up to the users' random choices (the one issuing user may not have issued
    # yet); that the verifications drew their invoices from the embedded register is what the block must show.
    assert sum(count for name, count in calls.items() if name.startswith("Verify")) > 0, calls
    assert int(rows["Aggregated"]["Failure Count"]) == 0, rows["Aggregated"]
    # `kill %1 && wait` stopped the server, and pgserver the embedded PostgreSQL with its last user.
    assert left_running == []
