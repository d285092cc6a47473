"""Admission control: how many calls one worker works on at once, and how long a call may wait for its turn.

A worker past its capacity only makes every call slower, and once gRPC core holds more calls than the worker has
taken (a thousand by default) it cancels the newest, which callers see as CANCELLED, as if they had given up
themselves, and do not retry. So each call first takes a place: up to ``max_in_flight`` at once; past that it
queues (at most ``max_queued``, for at most ``max_wait`` seconds), and past those it is refused at once with
RESOURCE_EXHAUSTED and a RetryInfo, before its request is parsed or its caller authenticated, so a refusal costs
little of the capacity it protects. Refused calls changed nothing: any of them is safe to send again, to this
worker or another, and the SDK and Envoy do.

Health checks and long-lived response streams (WatchInvoices) take no place: a worker busy with calls is not
unhealthy, and a watcher waiting for news costs nothing."""

from __future__ import annotations

import asyncio
import random
from collections import deque

import grpc

from ..domain.errors import Overloaded
from .errors import grpc_status_for

# The defaults of FAPIAO_MAX_CALLS_IN_FLIGHT, FAPIAO_MAX_CALLS_QUEUED and FAPIAO_MAX_QUEUE_WAIT_MS.
MAX_IN_FLIGHT, MAX_QUEUED, MAX_WAIT_MS = 256, 1024, 1000
# Refusals carry one of a few retry delays, spread over this range, so the callers refused together do not all
# come back at the same instant.
RETRY_AFTER_SECONDS = (0.05, 0.25)
_VARIANTS = 8


class CallLimiter:
    """One worker's places for calls. ``enter`` takes one (waiting in line if need be) or says there is none;
    ``leave`` gives it back, to the longest-waiting call first. A client stream (BatchVerifyInvoices) holds its
    place for as long as it lasts."""

    def __init__(self, *, max_in_flight: int, max_queued: int, max_wait: float) -> None:
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.max_wait = max_wait
        self.in_flight = 0
        self.refused = 0  # calls turned away, ever (read by the metrics)
        self._waiting: deque[asyncio.Future[None]] = deque()
        low, high = RETRY_AFTER_SECONDS
        # Built once: a refusal must cost as little as possible, and its status never changes.
        self._refusals = [
            grpc_status_for(Overloaded(low + (high - low) * n / (_VARIANTS - 1))) for n in range(_VARIANTS)
        ]

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def refusal(self) -> grpc.Status:
        return random.choice(self._refusals)

    async def enter(self) -> bool:
        """Take a place; False when there is none to be had (the call is to be refused)."""
        if self.in_flight < self.max_in_flight and not self._waiting:
            self.in_flight += 1
            return True
        if len(self._waiting) >= self.max_queued:
            self.refused += 1
            return False
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.max_wait)
        except TimeoutError:
            if turn.done():  # handed a place just as the wait ran out: keep it
                return True
            self._waiting.remove(turn)
            self.refused += 1
            return False
        except asyncio.CancelledError:  # the caller went away while waiting
            if turn.done():
                self.leave()
            else:
                self._waiting.remove(turn)
            raise
        return True

    def leave(self) -> None:
        """Give a place back: to the first call still waiting, else free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.in_flight -= 1
