"""The load test's knobs, from FAPIAO_LOADTEST_* environment variables (the target is Locust's own --host)."""

from __future__ import annotations

import os
from dataclasses import dataclass

# A Beijing day replayed in 4 minutes by default: long enough to see both peaks, short enough to run often.
DEFAULT_COMPRESSION = 360.0


def _number(name: str, default: float, *, minimum: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"{name}={text!r} is not a number") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum:g}, not {text}")
    return value


@dataclass(frozen=True, slots=True)
class LoadTestSettings:
    """What a run reads from the environment; see loadtests/README.md for the table."""

    # Where the invoices to verify come from: the same variable the server reads.
    database_url: str
    # How many invoices to draw from the register at start (each worker process draws its own).
    sample_size: int
    # Issue dates older than this are refused by the server; the same variable the server reads.
    window_years: int
    # Each user waits between 0 and this many seconds between calls, like a person or an ERP job would.
    max_wait_seconds: float
    # Users at the busiest moment of the replayed day (business_day.py only).
    peak_users: int
    # Simulated seconds per real second (business_day.py only): 360 replays 24 hours in 4 minutes.
    compression: float
    # Requests per second each user's principal may make; 0 leaves the register's default (20).
    rate_limit: float

    @classmethod
    def from_environment(cls) -> LoadTestSettings:
        return cls(
            database_url=os.environ.get("FAPIAO_DATABASE_URL", ""),
            sample_size=int(_number("FAPIAO_LOADTEST_SAMPLE_SIZE", 5000, minimum=1)),
            window_years=int(_number("FAPIAO_VERIFICATION_WINDOW_YEARS", 5, minimum=1)),
            max_wait_seconds=_number("FAPIAO_LOADTEST_MAX_WAIT_SECONDS", 2.0, minimum=0),
            peak_users=int(_number("FAPIAO_LOADTEST_PEAK_USERS", 50, minimum=1)),
            compression=_number("FAPIAO_LOADTEST_COMPRESSION", DEFAULT_COMPRESSION, minimum=1),
            rate_limit=_number("FAPIAO_LOADTEST_RATE_LIMIT", 0, minimum=0),
        )
