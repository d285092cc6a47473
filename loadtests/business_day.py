"""A Beijing business day of register traffic, replayed compressed in time.

``locust -f loadtests/business_day.py --headless`` runs VerificationUser and IssuingUser (four verifying callers
to one issuing enterprise) under this shape: from midnight to
midnight Asia/Shanghai, quiet overnight, busy from 08:00, peaks 09:00-11:00 and 14:00-16:00 with a lunch dip
between them, tailing off in the evening. FAPIAO_LOADTEST_COMPRESSION sets how many simulated seconds pass per
real second (360: the day in 4 minutes) and FAPIAO_LOADTEST_PEAK_USERS the users at the peaks; the run ends
by itself at simulated midnight.
"""

from __future__ import annotations

import logging

from issuing_user import IssuingUser
from locust import LoadTestShape
from verification_user import SETTINGS, VerificationUser

__all__ = ["BeijingBusinessDay", "IssuingUser", "VerificationUser"]

# Verification dominates the day; issuing follows the same office hours.
VerificationUser.weight = 4
IssuingUser.weight = 1

log = logging.getLogger(__name__)
DAY_SECONDS = 24 * 3600
# Share of the peak load at the start of each Beijing hour (00:00 .. 23:00); linear in between. Verification
# follows office hours: finance teams check incoming invoices in the morning and again after lunch.
HOURLY_LOAD = (
    0.03, 0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.12,  # 00-07: night batch jobs, early risers
    0.45, 1.00, 1.00, 0.90, 0.35, 0.45, 1.00, 1.00,  # 08-15: morning peak, lunch dip, afternoon peak
    0.85, 0.60, 0.30, 0.18, 0.12, 0.08, 0.05, 0.04,  # 16-23: close of business, evening
)  # fmt: skip


def load_at(simulated_seconds: float) -> float:
    """Share of the peak load (0-1] at this many seconds after midnight, Beijing time."""
    hour, into_hour = divmod(simulated_seconds / 3600, 1)
    start = HOURLY_LOAD[int(hour) % 24]
    end = HOURLY_LOAD[(int(hour) + 1) % 24]
    return start + (end - start) * into_hour


class BeijingBusinessDay(LoadTestShape):
    """Users over one compressed day: ``peak_users x load_at(now)``, at least one, until simulated midnight."""

    def __init__(self) -> None:
        super().__init__()
        self._hour_logged = -1

    def tick(self) -> tuple[int, float] | None:
        simulated = self.get_run_time() * SETTINGS.compression
        if simulated >= DAY_SECONDS:
            return None
        users = max(1, round(SETTINGS.peak_users * load_at(simulated)))
        hour = int(simulated // 3600)
        if hour != self._hour_logged:
            self._hour_logged = hour
            log.info("Beijing %02d:00, %d users", hour, users)
        # Fast enough to reach any level within a second, however hard the day is compressed.
        return users, float(SETTINGS.peak_users)
