"""A circuit breaker, so a dead or stalled cache costs one timeout now and then instead of one per call."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """closed -> (``threshold`` failures in a row) -> open -> (``reset_after`` s) -> one probe -> closed/open."""

    def __init__(self, *, threshold: int = 3, reset_after: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self._threshold = threshold
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def closed(self) -> bool:
        return self._opened_at is None

    def allow(self) -> bool:
        """May a call go through now? While open, only one probe per ``reset_after`` seconds."""
        if self._opened_at is None:
            return True
        now = self._clock()
        if now - self._opened_at < self._reset_after:
            return False
        # A probe whose caller vanished (cancelled) without reporting must not keep the breaker open forever.
        if self._probe_started is not None and now - self._probe_started < self._reset_after:
            return False
        self._probe_started = now
        return True

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_started = None

    def failure(self) -> None:
        self._failures += 1
        if self._probe_started is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._probe_started = None
