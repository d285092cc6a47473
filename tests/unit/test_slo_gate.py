"""The load test's SLO gate: which results breach which limits, what is too thin to judge, and which thresholds
files are refused before a run starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.slo_gate import (
    CallResult,
    Limits,
    Thresholds,
    ThresholdsError,
    judge,
    load_thresholds,
    parse_thresholds,
)

SHIPPED = Path(__file__).resolve().parents[2] / "loadtests" / "slo.toml"


def result(
    name: str = "VerifyInvoice", calls: int = 1000, failures: int = 0, p95: float = 10, p99: float = 20
) -> CallResult:
    return CallResult(name, calls, failures, p95_ms=p95, p99_ms=p99)


def lines(thresholds: Thresholds, *results: CallResult) -> list[str]:
    return [str(breach) for breach in judge(thresholds, results).breaches]


def test_each_exceeded_limit_is_one_line_naming_call_measure_value_and_limit() -> None:
    thresholds = Thresholds(Limits(max_failure_ratio=0.01, p95_ms=100, p99_ms=250))

    assert lines(thresholds, result("IssueInvoice", failures=20, p95=101, p99=412)) == [
        "SLO breach: IssueInvoice failure ratio 0.02 > 0.01",
        "SLO breach: IssueInvoice p95 101 ms > 100 ms",
        "SLO breach: IssueInvoice p99 412 ms > 250 ms",
    ]


def test_a_value_at_its_limit_passes() -> None:
    thresholds = Thresholds(Limits(max_failure_ratio=0.01, p95_ms=100, p99_ms=250))

    assert lines(thresholds, result(failures=10, p95=100, p99=250)) == []


def test_zero_failures_allowed_means_one_failure_breaches() -> None:
    assert lines(Thresholds(Limits(max_failure_ratio=0)), result(calls=5, failures=1)) == [
        "SLO breach: VerifyInvoice failure ratio 0.2 > 0"
    ]


def test_a_named_call_overrides_only_the_measures_it_sets() -> None:
    thresholds = Thresholds(
        Limits(max_failure_ratio=0, p95_ms=100, p99_ms=200), {"BatchVerifyInvoices": Limits(p99_ms=3000)}
    )

    assert lines(thresholds, result("BatchVerifyInvoices", failures=1, p95=150, p99=2500)) == [
        "SLO breach: BatchVerifyInvoices failure ratio 0.001 > 0",
        "SLO breach: BatchVerifyInvoices p95 150 ms > 100 ms",
    ]
    assert lines(thresholds, result("VerifyInvoice", p99=2500)) == ["SLO breach: VerifyInvoice p99 2500 ms > 200 ms"]


def test_a_measure_without_a_limit_is_not_checked() -> None:
    assert lines(Thresholds(Limits(p99_ms=100)), result(failures=900, p95=5000, p99=50)) == []


def test_percentiles_of_too_few_calls_are_reported_unjudged_but_failures_still_count() -> None:
    thresholds = Thresholds(Limits(max_failure_ratio=0, p95_ms=1, p99_ms=1))

    verdict = judge(thresholds, [result("VoidInvoice", calls=39, failures=1, p95=500, p99=500)])

    assert [str(b) for b in verdict.breaches] == ["SLO breach: VoidInvoice failure ratio 0.025641 > 0"]
    assert [str(u) for u in verdict.unjudged] == [
        "SLO not judged: VoidInvoice p95 (39 calls, needs 40)",
        "SLO not judged: VoidInvoice p99 (39 calls, needs 200)",
    ]


def test_p95_is_judged_from_40_calls_and_p99_from_200() -> None:
    thresholds = Thresholds(Limits(p95_ms=1, p99_ms=1))

    assert lines(thresholds, result(calls=40, p95=5, p99=5)) == ["SLO breach: VerifyInvoice p95 5 ms > 1 ms"]
    assert lines(thresholds, result(calls=200, p95=5, p99=5)) == [
        "SLO breach: VerifyInvoice p95 5 ms > 1 ms",
        "SLO breach: VerifyInvoice p99 5 ms > 1 ms",
    ]


def test_a_call_never_made_is_not_judged() -> None:
    verdict = judge(
        Thresholds(Limits(max_failure_ratio=0, p95_ms=100)), [result(calls=0, p95=0, p99=0), result("GetInvoice")]
    )

    assert (verdict.breaches, verdict.unjudged) == ([], [])


@pytest.mark.parametrize("results", [[], [result(calls=0, p95=0, p99=0)]])
def test_a_run_that_made_no_call_breaches(results: list[CallResult]) -> None:
    """Users that could not start (a wrong target, a missing key) make no calls: that meets no objective."""
    assert lines(Thresholds(Limits(max_failure_ratio=0)), *results) == [
        "SLO breach: the run made no calls, so none met the objectives"
    ]


def test_the_file_has_a_default_and_calls_by_their_reported_names() -> None:
    thresholds = parse_thresholds(
        """
        [default]
        max_failure_ratio = 0.01
        p95_ms = 250
        p99_ms = 500

        [calls."VerifyInvoice [not found]"]
        p99_ms = 800
        """,
        "slo.toml",
    )

    assert thresholds.for_call("VerifyInvoice [not found]") == Limits(0.01, 250, 800)
    assert thresholds.for_call("IssueInvoice") == Limits(0.01, 250, 500)


def test_the_shipped_file_limits_every_call() -> None:
    thresholds = load_thresholds(SHIPPED)

    limits = thresholds.default
    assert None not in (limits.max_failure_ratio, limits.p95_ms, limits.p99_ms)
    assert thresholds.for_call("BatchVerifyInvoices").p99_ms > limits.p99_ms  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[default]\np99 = 5", "default: unknown p99"),
        ('[calls."IssueInvoice"]\np95_ms = -1', "calls.IssueInvoice.p95_ms: expected a number of at least 0"),
        ("[default]\np95_ms = '5'", "default.p95_ms: expected a number"),
        ("[default]\np95_ms = true", "default.p95_ms: expected a number"),
        ("[default]\nmax_failure_ratio = 5", "default.max_failure_ratio: a ratio is at most 1"),
        ("[defaults]\np95_ms = 5", "unknown defaults"),
        ("calls = 3", "calls: expected [calls.NAME] tables"),
        ("[calls]\nIssueInvoice = 3", "calls.IssueInvoice: expected a table of limits"),
        ("[default\n", "slo.toml: "),
    ],
)
def test_a_file_that_cannot_mean_what_it_says_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(ThresholdsError, match=r"^slo\.toml: ") as refused:
        parse_thresholds(text, "slo.toml")
    assert complaint in str(refused.value)


def test_a_missing_file_is_refused_by_its_name(tmp_path: Path) -> None:
    with pytest.raises(ThresholdsError, match=r"absent\.toml: cannot read"):
        load_thresholds(tmp_path / "absent.toml")
