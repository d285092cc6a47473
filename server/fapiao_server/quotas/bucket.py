"""A token bucket in memory: the per-worker limit while Redis cannot be reached, and the reference for the
fleet-wide bucket (``take_tokens.lua`` runs the same arithmetic inside Redis). Pure: time is passed in."""

from __future__ import annotations


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``rate`` per second; starts full."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a bucket needs rate > 0 and room for at least one token")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def take(self, want: int, now: float) -> tuple[int, float]:
        """Take up to ``want`` whole tokens. Returns how many were taken and, when none, the seconds until one."""
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(self._at, now)
        taken = min(want, int(self._tokens))
        self._tokens -= taken
        wait = 0.0 if taken else (1 - self._tokens) / self.rate
        return taken, wait
