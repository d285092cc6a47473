"""The SLO gate in a Locust run: ``--slo FILE`` (FAPIAO_LOADTEST_SLO; slo.toml beside this file by default, ``none``
for no gate) is read at start, and when the run ends the whole run's stats are judged against it; any breach
prints its line and makes the process exit 1.

Only a standalone process or the master judges: a worker's stats are its share of the run, sent on to the master.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner
from slo_gate import CallResult, Thresholds, ThresholdsError, judge, load_thresholds

DEFAULT_THRESHOLDS = Path(__file__).with_name("slo.toml")
NO_GATE = "none"
log = logging.getLogger(__name__)
# The file the run is judged against, and what it says; empty for no gate (and on workers).
_gate: list[tuple[str, Thresholds]] = []


@events.init_command_line_parser.add_listener
def add_slo_option(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--slo",
        default=str(DEFAULT_THRESHOLDS),
        env_var="FAPIAO_LOADTEST_SLO",
        metavar="FILE",
        help=f"thresholds the run must meet, or exit 1 (default {DEFAULT_THRESHOLDS.name} beside the locustfiles; "
        f"'{NO_GATE}': no gate)",
    )


@events.init.add_listener
def read_thresholds(environment: Environment, **_: object) -> None:
    """Read the file before any load is sent: a mistake in it should cost nothing, not a whole run."""
    if isinstance(environment.runner, WorkerRunner):
        return
    choice = environment.parsed_options.slo if environment.parsed_options else str(DEFAULT_THRESHOLDS)
    if choice == NO_GATE:
        return
    try:
        _gate[:] = [(choice, load_thresholds(Path(choice)))]
    except ThresholdsError as error:
        raise SystemExit(f"loadtests: --slo {error}") from None


# quitting, not test_stop: on a master, test_stop fires before the workers' final reports come in.
@events.quitting.add_listener
def judge_run(environment: Environment, **_: object) -> None:
    if not _gate or environment.runner is None:
        return
    source, thresholds = _gate[0]
    results = [
        CallResult(
            entry.name,
            entry.num_requests,
            entry.num_failures,
            p95_ms=entry.get_response_time_percentile(0.95),
            p99_ms=entry.get_response_time_percentile(0.99),
        )
        for entry in environment.runner.stats.entries.values()
    ]
    verdict = judge(thresholds, results)
    for unjudged in verdict.unjudged:
        log.info("%s", unjudged)
    for breach in verdict.breaches:
        print(breach, file=sys.stderr, flush=True)
    if verdict.breaches:
        environment.process_exit_code = 1
    else:
        log.info("SLO met: every call within %s", source)
