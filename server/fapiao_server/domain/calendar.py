"""Business dates: Asia/Shanghai calendar days, whatever the server's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def business_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: business dates need an aware instant")
    return instant.astimezone(BUSINESS_TZ).date()


def utc_now() -> datetime:
    return datetime.now(UTC)


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def civil_date(year: int, month: int, day: int) -> date:
    """A date from its parts, as carried by google.type.Date; a missing or impossible date is a ValueError."""
    if year == 0 and month == 0 and day == 0:
        raise ValueError("required")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{year:04d}-{month:02d}-{day:02d} is not a calendar date") from None


def business_days_span(first: date, last: date) -> tuple[datetime, datetime]:
    """The instants from the start of ``first`` to the start of the day after ``last``, Asia/Shanghai.

    The day after 9999-12-31 has no ``date``: a span ending then ends at the last instant a ``datetime`` holds,
    one microsecond short of midnight (a range's end that callers use as "open-ended")."""
    start = datetime(first.year, first.month, first.day, tzinfo=BUSINESS_TZ)
    if last == date.max:
        return start, datetime.max.replace(tzinfo=BUSINESS_TZ)
    after = last + timedelta(days=1)
    return start, datetime(after.year, after.month, after.day, tzinfo=BUSINESS_TZ)


def next_business_day_start(instant: datetime) -> datetime:
    """The next Asia/Shanghai midnight after an aware instant (Shanghai has no DST, so it is always 24 h apart)."""
    tomorrow = business_date(instant) + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=BUSINESS_TZ)
