"""Quota rules: how many calls a principal may make per second, and how often one caller may verify the same
invoice per business day (docs/domain.md section 4: the national platform allows 5). Pure; counting lives in
``fapiao_server.quotas``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from .calendar import business_date, next_business_day_start
from .errors import QuotaExceeded
from .invoice import InvoiceKey

RATE_LIMIT = "RATE_LIMIT"
INVOICE_VERIFICATIONS_PER_DAY = "INVOICE_VERIFICATIONS_PER_DAY"


def rate_limited(principal: str, rate: float, retry_after: float) -> QuotaExceeded:
    """The refusal of a call past the principal's rate."""
    return QuotaExceeded(
        f"more than {rate:g} requests per second; retry in {retry_after:.3f} s",
        quota=RATE_LIMIT,
        limit=rate,
        retry_after=retry_after,
        subject=f"principal:{principal}",
    )


@dataclass(frozen=True, slots=True)
class DailyVerificationLimit:
    """At most ``per_invoice`` verifications of one invoice by one caller per Asia/Shanghai day; 0 turns it off.

    Every attempt that names a well-formed invoice counts, whatever its outcome (MISMATCH and NOT_FOUND too, as on
    the national platform) and including refused attempts: a refused attempt changes nothing, since the count is
    already past the limit until midnight."""

    per_invoice: int = 5

    @property
    def enabled(self) -> bool:
        return self.per_invoice > 0

    def counter(self, caller: str, key: InvoiceKey, now: datetime) -> str:
        """The name of the day's counter of ``caller`` verifying ``key``; a new day starts a new counter."""
        return f"{business_date(now).isoformat()}:{key}:{caller}"

    def judge(self, attempt: int, key: InvoiceKey, now: datetime) -> int | QuotaExceeded:
        """For the ``attempt``-th verification today (1-based): how many are left after it, or its refusal."""
        if attempt <= self.per_invoice:
            return self.per_invoice - attempt
        retry_after = math.ceil((next_business_day_start(now) - now).total_seconds())
        return QuotaExceeded(
            f"invoice {key} was verified {self.per_invoice} times today by this caller; retry after midnight"
            " (Asia/Shanghai)",
            quota=INVOICE_VERIFICATIONS_PER_DAY,
            limit=self.per_invoice,
            retry_after=retry_after,
            subject=f"invoice:{key}",
        )
