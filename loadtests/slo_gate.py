"""Service level objectives for a load test: per call name, the largest failure ratio and p95 / p99 response times
a run may show, read from a TOML file (slo.toml beside this module), and the breaches of a run's results.

No Locust here, so the rules are tested on their own; slo_hooks.py feeds them the run's aggregated stats.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


class ThresholdsError(ValueError):
    """The thresholds file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one call may show; None leaves a measure unchecked."""

    max_failure_ratio: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    def over(self, default: Limits) -> Limits:
        """These limits, with the default's wherever these leave a measure open."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(default, **{name: value for name, value in given.items() if value is not None})


@dataclass(frozen=True, slots=True)
class Thresholds:
    default: Limits
    calls: Mapping[str, Limits] = field(default_factory=dict)

    def for_call(self, name: str) -> Limits:
        named = self.calls.get(name)
        return named.over(self.default) if named else self.default


@dataclass(frozen=True, slots=True)
class CallResult:
    """One call name's aggregate over the whole run (every worker's calls, failed ones included)."""

    name: str
    calls: int
    failures: int
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class Breach:
    call: str
    measure: str
    value: float
    limit: float
    unit: str

    def __str__(self) -> str:
        return f"SLO breach: {self.call} {self.measure} {self.value:g}{self.unit} > {self.limit:g}{self.unit}"


@dataclass(frozen=True, slots=True)
class NoCalls:
    """A run that made no call at all (callers that could not start, a wrong target): nothing met the objectives."""

    def __str__(self) -> str:
        return "SLO breach: the run made no calls, so none met the objectives"


@dataclass(frozen=True, slots=True)
class Unjudged:
    call: str
    measure: str
    calls: int
    needed: int

    def __str__(self) -> str:
        return f"SLO not judged: {self.call} {self.measure} ({self.calls} calls, needs {self.needed})"


@dataclass(frozen=True, slots=True)
class Verdict:
    breaches: list[Breach | NoCalls]
    unjudged: list[Unjudged]


# A percentile is judged only once at least two calls lie above it, so one slow call (a GC pause, a reconnect) never
# decides the gate alone: below 40 calls the p95 is the slowest or second slowest call, below 200 so is the p99.
PERCENTILES = (("p95", "p95_ms", 40), ("p99", "p99_ms", 200))


def judge(thresholds: Thresholds, results: Iterable[CallResult]) -> Verdict:
    """Every limit each call exceeds, and the percentiles it made too few calls to judge. A call the run never made
    is not judged at all; a run that made no call breaches."""
    breaches: list[Breach | NoCalls] = []
    unjudged: list[Unjudged] = []
    results = list(results)
    if not any(result.calls for result in results):
        return Verdict([NoCalls()], [])
    for result in results:
        if not result.calls:
            continue
        limits = thresholds.for_call(result.name)
        ratio = result.failures / result.calls
        if limits.max_failure_ratio is not None and ratio > limits.max_failure_ratio:
            breaches.append(Breach(result.name, "failure ratio", ratio, limits.max_failure_ratio, ""))
        for measure, key, needed in PERCENTILES:
            limit: float | None = getattr(limits, key)
            if limit is None:
                continue
            if result.calls < needed:
                unjudged.append(Unjudged(result.name, measure, result.calls, needed))
            elif (value := getattr(result, key)) > limit:
                breaches.append(Breach(result.name, measure, value, limit, " ms"))
    return Verdict(breaches, unjudged)


def _limits(table: object, where: str) -> Limits:
    if not isinstance(table, dict):
        raise ThresholdsError(f"{where}: expected a table of limits")
    known = {f.name for f in fields(Limits)}
    # A misspelt key would otherwise leave its measure silently unchecked.
    if unknown := sorted(set(table) - known):
        raise ThresholdsError(f"{where}: unknown {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ThresholdsError(f"{where}.{key}: expected a number of at least 0, not {value!r}")
    if table.get("max_failure_ratio", 0) > 1:
        raise ThresholdsError(f"{where}.max_failure_ratio: a ratio is at most 1 (0.01 is 1%)")
    return Limits(**{key: float(value) for key, value in table.items()})


def parse_thresholds(text: str, source: str) -> Thresholds:
    """The thresholds in TOML ``text``: a [default] table and [calls."Name"] tables; ``source`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ThresholdsError(f"{source}: {error}") from None
    if unknown := sorted(set(document) - {"default", "calls"}):
        raise ThresholdsError(f"{source}: unknown {', '.join(unknown)} (expected [default] and [calls.NAME])")
    calls = document.get("calls", {})
    if not isinstance(calls, dict):
        raise ThresholdsError(f"{source}: calls: expected [calls.NAME] tables")
    return Thresholds(
        default=_limits(document.get("default", {}), f"{source}: default"),
        calls={name: _limits(table, f"{source}: calls.{name}") for name, table in calls.items()},
    )


def load_thresholds(path: Path) -> Thresholds:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ThresholdsError(f"{path}: cannot read ({error.strerror})") from None
    return parse_thresholds(text, str(path))
