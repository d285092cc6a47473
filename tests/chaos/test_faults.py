"""The fleet under the faults an SRE meets: nodes killed one at a time and in a storm, a rolling restart, Redis
shut down and frozen, PostgreSQL restarted and stopped. Each runs under mixed SDK load through Envoy, and after
each the checker proves from the database that callers were told the truth.

The short form runs in CI; the long form (a longer storm, longer steady stretches) by hand:
``pytest tests/chaos -m long_chaos`` (see docs/reliability.md). Set FAPIAO_CHAOS_REPORT to a file
to have each run's figures appended to it as JSON lines."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.invoices import tax_id

from . import checker
from .fleet import ChaosFleet
from .load import OK, Answer, Load, Probe
from .report import report

pytestmark = pytest.mark.slow
READS = ("verify", "read")
CHANGES = ("issue", "void")


@dataclass(frozen=True)
class Form:
    name: str
    steady_seconds: float  # load before, between and after the faults
    outage_seconds: float  # how long Redis or PostgreSQL stays away
    storm_seconds: float  # how long nodes keep being killed


SHORT = Form("short", steady_seconds=3, outage_seconds=15, storm_seconds=16)
LONG = Form("long", steady_seconds=20, outage_seconds=15, storm_seconds=300)
FORMS = [pytest.param(SHORT, id="short"), pytest.param(LONG, id="long", marks=pytest.mark.long_chaos)]


@dataclass
class ChaosRun:
    """One scenario: its sellers and callers, the load, the fault windows, the figures."""

    fleet: ChaosFleet
    form: Form
    name: str
    load: Load = field(init=False)
    faults: list[tuple[str, float, float]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sellers = [tax_id(region) for region in ("110108", "310115", "440305")]
        url = self.fleet.database_url
        self.load = Load(
            self.fleet.target,
            taxpayer_key=principal_key(url, Role.TAXPAYER, tax_ids=sellers),
            verifier_key=principal_key(url, Role.VERIFIER),
            sellers=sellers,
        )
        self.began = time.monotonic()
        self.load.start()

    def steady(self, seconds: float | None = None) -> None:
        self.load.run_for(self.form.steady_seconds if seconds is None else seconds)

    @contextmanager
    def fault(self, what: str) -> Iterator[None]:
        start = time.monotonic()
        yield
        self.faults.append((what, start, time.monotonic()))

    def finish(self) -> None:
        """Stop the load, check the register, record the figures; fail on anything the checker found."""
        self.load.stop()
        ended = time.monotonic()
        found = checker.problems(self.fleet.database_url, self.load)
        issues = self.load.issues.values()
        self.figures.update(
            scenario=self.name,
            form=self.form.name,
            seconds=round(ended - self.began, 1),
            calls={kind: dict(self.load.codes((kind,))) for kind in (*READS, *CHANGES)},
            invoices_acknowledged=len(self.load.acknowledged()),
            issues_answered_after_a_failure=sum(1 for c in issues if c.failures and c.acknowledged),
            voids_acknowledged=sum(1 for c in self.load.voids.values() if c.acknowledged),
            watched_events=sum(len(w.event_ids) for w in self.load.watches.values()),
            faults=[(what, round(start - self.began, 1), round(end - start, 1)) for what, start, end in self.faults],
            problems=len(found),
        )
        report(self.figures)
        assert not found, "\n".join(found[:40])

    def read_errors(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return self.load.errors(READS, since, until)


def _latencies(answers: list[Answer], code: str) -> dict[str, float]:
    seconds = sorted(a.seconds for a in answers if a.code == code)
    if not seconds:
        return {}
    return {
        "count": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 1),
    }


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.timeout(900)
def test_a_node_killed_and_brought_back_fails_no_read_and_loses_nothing(fleet: ChaosFleet, form: Form) -> None:
    run = ChaosRun(fleet, form, "node SIGKILL")
    run.steady()
    victim = fleet.nodes[0]
    with run.fault("node 1 killed"):
        fleet.kill(victim)
        run.steady()
        fleet.restart(victim)
    run.steady()
    run.finish()
    assert not run.read_errors(), run.figures


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.timeout(1200)
def test_a_storm_of_kills_loses_nothing(fleet: ChaosFleet, form: Form) -> None:
    """A node SIGKILLed every 5 s, each brought back at once (so one is down at a time)."""
    run = ChaosRun(fleet, form, "SIGKILL storm")
    run.steady()
    ends = time.monotonic() + form.storm_seconds
    kills = 0
    while time.monotonic() < ends:
        began = time.monotonic()
        victim = fleet.nodes[kills % len(fleet.nodes)]
        with run.fault(f"node {victim.index} killed"):
            fleet.kill(victim)
            fleet.restart(victim)
        kills += 1
        run.steady(max(0.0, 5.0 - (time.monotonic() - began)))
    run.steady()
    run.figures["kills"] = kills
    run.finish()
    assert not run.read_errors(), run.figures


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.timeout(900)
def test_a_rolling_restart_fails_no_call(fleet: ChaosFleet, form: Form) -> None:
    """SIGTERM one node at a time (it drains), start it again, next: what a deploy does. Nobody should notice."""
    run = ChaosRun(fleet, form, "rolling SIGTERM restart")
    run.steady()
    for slot in fleet.nodes:
        with run.fault(f"node {slot.index} restarted"):
            fleet.terminate(slot)
            fleet.restart(slot)
    run.steady()
    run.finish()
    assert not run.read_errors(), run.figures
    assert not run.load.errors(CHANGES), run.figures


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.timeout(900)
def test_redis_shut_down_then_frozen_fails_no_read(fleet: ChaosFleet, form: Form) -> None:
    """The cache is an accelerator: without it, and with it hanging, reads come from PostgreSQL."""
    run = ChaosRun(fleet, form, "Redis shut down and frozen")
    run.steady()
    with run.fault("Redis shut down"):
        fleet.stop_redis()
        run.steady(form.outage_seconds)
        fleet.start_redis()
    run.steady()
    with run.fault("Redis frozen (SIGSTOP)"):
        fleet.freeze_redis()
        run.steady(form.outage_seconds)
        fleet.thaw_redis()
    run.steady()
    run.finish()
    assert not run.read_errors(), run.figures


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.timeout(900)
def test_postgres_restarted_then_stopped_fails_fast_and_recovers(fleet: ChaosFleet, form: Form) -> None:
    """While PostgreSQL is away calls fail at once with UNAVAILABLE (changes are sent again with their request ids
    until it is back); once it is back nothing fails, stale pooled connections included."""
    run = ChaosRun(fleet, form, "PostgreSQL restarted and stopped")
    run.steady()
    with run.fault("PostgreSQL restarted"):
        fleet.stop_postgres()
        fleet.start_postgres()
    restarted = time.monotonic()
    run.steady()
    invoice = run.load.acknowledged()[0].acknowledged
    assert invoice is not None
    with Probe(fleet.target, run.load.verifier_key, invoice) as probe:
        before = time.monotonic()
        run.steady()
        stopping = time.monotonic()
        with run.fault("PostgreSQL stopped"):
            fleet.stop_postgres()
            stopped = time.monotonic()
            run.steady(form.outage_seconds)
            fleet.start_postgres()
        back = time.monotonic()
        run.steady(max(run.form.steady_seconds, 5.0))
    settled = back + 2.0
    during = [a for a in probe.answers if stopped + 1.0 <= a.at < back]
    everything = (*READS, *CHANGES)
    run.figures.update(
        probe_during_outage=dict(Counter(a.code for a in during)),
        probe_unavailable=_latencies(during, "UNAVAILABLE"),
        # The SDK retries UNAVAILABLE (with backoff, until its retry throttle trips), so its callers hear later.
        sdk_unavailable=_latencies([a for a in run.load.answers if stopped + 1.0 <= a.at < back], "UNAVAILABLE"),
        rate_before=round(run.load.rate(everything, before, stopped), 1),
        rate_2_to_5_s_after_return=round(run.load.rate(everything, settled, settled + 3.0), 1),
        # Calls answered before the stop began: those in flight when it stopped fail, and rightly so.
        errors_after_restart=dict(
            Counter(
                a.code
                for a in run.load.answers
                if a.code != OK and a.at >= restarted + 2.0 and a.at + a.seconds < stopping
            )
        ),
        errors_after_return=dict(run.load.errors(everything, settled)),
    )
    run.finish()
    # A caller that does not retry hears UNAVAILABLE (retryable), never a hang or another code.
    assert during and set(a.code for a in during) <= {OK, "UNAVAILABLE"}, run.figures
    assert run.figures["probe_unavailable"], run.figures
    # No stale connection fails a call once the database is back.
    assert not run.figures["errors_after_restart"] and not run.figures["errors_after_return"], run.figures
